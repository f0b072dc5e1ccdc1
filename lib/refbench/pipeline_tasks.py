"""The per-image work of a manifest, as plain functions a task runner can ship to any process.

Prefect tasks in ``flows/manifest.py`` wrap these. They live in the library (not in the flow
file) so Dask workers unpickle them by reference, and they load models through a per-process
cache: each worker loads its models once, not once per image.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from refbench.ingest import LoadedImage, reload_image
from refbench.manifest import Backends, ImageAnalysis, ManifestOptions, analyze_image, load_backends
from refbench.settings import Settings
from refbench.types import ImageRecord


def shared_backends(options: ManifestOptions, *, model_dir: Path, providers: tuple[str, ...] | None = None) -> Backends:
    """The models ``options`` names, loaded once per process and thread.

    One copy per thread because OpenCV's DNN networks must not run concurrently; thread pools
    reuse their threads, so a pool of N threads loads the models N times at most.
    """
    return _cached_backends(options, Path(model_dir), providers, threading.get_ident())


@lru_cache(maxsize=16)
def _cached_backends(
    options: ManifestOptions, model_dir: Path, providers: tuple[str, ...] | None, thread_id: int
) -> Backends:
    settings = Settings(model_dir=model_dir, providers=list(providers) if providers else None)
    return load_backends(options, settings)


def analyze_loaded(
    loaded: LoadedImage,
    *,
    options: ManifestOptions,
    model_dir: Path,
    files_dir: Path,
    providers: tuple[str, ...] | None = None,
    run_objects: bool = True,
    run_faces: bool = True,
) -> ImageAnalysis:
    """Detect objects and faces in one ingested image with this process's cached models; saves crops."""
    backends = shared_backends(options, model_dir=model_dir, providers=providers)
    return analyze_image(loaded, backends, files_dir=files_dir, run_objects=run_objects, run_faces=run_faces)


def analyze_stored(
    record: ImageRecord,
    *,
    options: ManifestOptions,
    model_dir: Path,
    files_dir: Path,
    max_pixels: int,
    providers: tuple[str, ...] | None = None,
    run_objects: bool = True,
    run_faces: bool = True,
) -> ImageAnalysis:
    """``analyze_loaded`` for an image read back from its workspace copy.

    What a task runner ships to another process is then a small record, not a decoded image
    (megabytes per image through Dask's scheduler).
    """
    return analyze_loaded(
        reload_image(record, max_pixels=max_pixels),
        options=options,
        model_dir=model_dir,
        files_dir=files_dir,
        providers=providers,
        run_objects=run_objects,
        run_faces=run_faces,
    )


# The Prefect task lives here, in an importable module, not in flows/: Dask workers unpickle tasks by
# module name, and a flow file loaded from its path (deployments, reports) gets a generated module name
# no worker can import. The task gets the image's record and decodes the workspace copy itself: a record
# pickles in bytes, a decoded image in megabytes. No cache: table `processed` already prevents rework.
analyze_task = task(analyze_stored, name="analyze-image", cache_policy=NO_CACHE)
