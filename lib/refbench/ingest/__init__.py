"""Ingest: every file of a folder becomes an accepted image (hashed, copied read-only) or a rejection."""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from refbench.errors import ImageRejected, InputNotFound
from refbench.ingest.imaging import decode_image, read_file, sha256_bytes
from refbench.settings import ImageLimits
from refbench.types import ImageRecord, Rejection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedImage:
    """An accepted image and its decoded upright pixels, uint8 RGB (H, W, 3)."""

    record: ImageRecord
    image_rgb: np.ndarray


@dataclass(frozen=True)
class Known:
    """A file whose content is already in the workspace."""

    image_id: str
    source_path: Path


@dataclass(frozen=True)
class FileStat:
    """What says a file is unchanged without reading it: its size and modification time."""

    n_bytes: int
    mtime_ns: int


def file_stat(path: Path) -> FileStat | None:
    """Size and mtime of ``path`` (following links), or ``None`` when it cannot be stat'ed."""
    try:
        info = path.stat()
    except OSError:
        return None
    return FileStat(info.st_size, info.st_mtime_ns)


@dataclass(frozen=True)
class FolderScan:
    """What a folder holds: candidate files (sorted), the size and mtime of each that could be stat'ed (what a
    re-run compares without reading the file), and what was skipped, each with a reason."""

    files: list[Path]
    skipped: list[Rejection]
    stats: dict[Path, FileStat] = field(default_factory=dict)


def scan_folder(folder: Path) -> FolderScan:
    """Every non-hidden file under ``folder``; unreadable sub-folders and special files (pipes, sockets,
    devices — never opened, a pipe would block) are reported, not silently dropped.

    Raises:
        InputNotFound: ``folder`` is not a folder.
    """
    if not folder.is_dir():
        raise InputNotFound(f"{folder} is not a folder")
    files: list[Path] = []
    skipped: list[Rejection] = []
    stats: dict[Path, FileStat] = {}

    def unreadable(error: OSError) -> None:
        reason = f"cannot list the folder: {error.strerror or error}"
        skipped.append(Rejection(Path(error.filename or folder), "unreadable_folder", reason, None, None))

    for root, folders, names in os.walk(folder, onerror=unreadable):
        folders[:] = sorted(d for d in folders if not d.startswith("."))
        for name in names:
            if name.startswith("."):
                continue
            path = Path(root) / name
            try:
                info = path.stat()  # follows symlinks
            except OSError:
                files.append(path)  # a broken link: reading it says why
                continue
            if stat.S_ISREG(info.st_mode):
                files.append(path)
                stats[path] = FileStat(info.st_size, info.st_mtime_ns)
            else:
                skipped.append(
                    Rejection(path, "not_a_file", "not a regular file (a pipe, socket or device)", None, None)
                )
    return FolderScan(sorted(files), skipped, stats)


def list_files(folder: Path) -> list[Path]:
    """The candidate files of ``scan_folder``."""
    return scan_folder(folder).files


FORMAT_SUFFIX = {
    "JPEG": ".jpg",
    "PNG": ".png",
    "GIF": ".gif",
    "BMP": ".bmp",
    "TIFF": ".tif",
    "WEBP": ".webp",
    "AVIF": ".avif",
    "PPM": ".ppm",
    "JPEG2000": ".jp2",
}


def store_original(data: bytes, image_id: str, file_format: str, originals_dir: Path) -> Path:
    """Copy original bytes into the workspace by content hash, read-only; existing copies are kept.

    The copy is named by its hash and its decoded format, never by the user's file name (which may be
    too long for the file system, or not text at all).
    """
    target = originals_dir / image_id[:2] / f"{image_id}{FORMAT_SUFFIX.get(file_format, '.img')}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=".incoming-", delete=False)  # noqa: SIM115
    try:
        with handle:
            handle.write(data)
        os.chmod(handle.name, 0o444)
        Path(handle.name).replace(target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)  # no half-copied original is ever left behind
        raise
    return target


def printable(path: Path | str) -> str:
    """A file name safe for one log line: undecodable bytes and control characters (newlines) escaped."""
    text = storable(path)
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def storable(path: Path | str) -> str:
    """A path as valid UTF-8 text: bytes that are not UTF-8 become ``\\xNN`` escapes."""
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


def ingest_file(
    path: Path, *, originals_dir: Path, known: Container[str], limits: ImageLimits
) -> LoadedImage | Known | Rejection:
    """Validate one file and, when it is a new image, copy it into the workspace.

    Never raises for bad input: every failure comes back as a ``Rejection`` with a reason.
    """
    data: bytes | None = None
    try:
        data = read_file(path, max_file_bytes=limits.max_file_bytes)
        image_id = sha256_bytes(data)
        if image_id in known:
            return Known(image_id, path)
        decoded = decode_image(data, max_pixels=limits.max_pixels)
    except ImageRejected as rejected:
        log.warning("rejected %s: %s", printable(path), rejected.reason)
        digest = sha256_bytes(data) if data else None
        return Rejection(path, rejected.code, rejected.reason, len(data) if data else None, digest)
    stored = store_original(data, image_id, decoded.format, originals_dir)
    height, width = decoded.image_rgb.shape[:2]
    record = ImageRecord(
        image_id,
        path.name,
        path,
        stored,
        width,
        height,
        decoded.format,
        decoded.mode,
        decoded.exif_orientation,
        len(data),
    )
    return LoadedImage(record, decoded.image_rgb)


def load_image_rgb(path: Path, *, limits: ImageLimits = ImageLimits()) -> np.ndarray:  # noqa: B008 - frozen value
    """An upright RGB uint8 image (H, W, 3) from any image file, within ``limits``.

    Raises:
        ImageRejected: with the code and reason the file cannot be used.
    """
    return decode_image(read_file(path, max_file_bytes=limits.max_file_bytes), max_pixels=limits.max_pixels).image_rgb
