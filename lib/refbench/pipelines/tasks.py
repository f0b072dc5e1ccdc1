"""Prefect tasks over the library's per-image work, and the mapper a flow hands to ``run_manifest``.

The task lives here, in an importable module, not in ``flows/``: Dask workers unpickle tasks by module
name, and a flow file loaded from its path (deployments, reports) gets a generated module name no worker
can import. What a task receives is an ``ImageAnalyzer`` (settings) and an ``ImageWork`` (a record and
the stages it needs): both pickle in bytes, because pixels and models stay behind (see
``refbench.pipelines.analyze``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial

from prefect import task
from prefect.cache_policies import NO_CACHE
from refbench.pipelines.analyze import ImageAnalyzer, ImageWork
from refbench.pipelines.pool import in_order
from refbench.types import ImageAnalysis, Rejection

# Images in flight at once: enough to keep two workers busy, few enough to keep memory flat.
IN_FLIGHT = 4
# Seconds one image may take on a worker before the run fails (instead of waiting forever on a lost worker).
IMAGE_TIMEOUT_S = 600


def analyze(analyzer: ImageAnalyzer, work: ImageWork) -> ImageAnalysis | Rejection:
    """Analyze one image (the body of ``analyze_task``)."""
    return analyzer(work)


# No cache: the registry's `processed` table already prevents rework. Runs are named by file.
analyze_task = task(
    analyze, name="analyze-image", cache_policy=NO_CACHE, task_run_name="analyze-{work.record.file_name}"
)


def prefect_map(
    *, in_flight: int = IN_FLIGHT, timeout_s: float = IMAGE_TIMEOUT_S
) -> Callable[[ImageAnalyzer, Iterable[ImageWork]], Iterator[ImageAnalysis | Rejection]]:
    """A ``map_images`` for ``run_manifest`` that submits each image as an ``analyze_task`` on the flow's task
    runner, keeps ``in_flight`` images submitted, and yields results in input order (so tags are handed out
    as ``run_manifest`` with ``map`` hands them out). Call inside a flow."""

    def submit_all(analyzer: ImageAnalyzer, work: Iterable[ImageWork]) -> Iterator[ImageAnalysis | Rejection]:
        return in_order(partial(analyze_task.submit, analyzer), work, in_flight=in_flight, timeout_s=timeout_s)

    return submit_all
