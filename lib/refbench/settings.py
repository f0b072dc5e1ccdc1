"""Workspace settings: constructor arguments or ``REFBENCH_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Where the workspace lives and how models run.

    Every field can be set with an environment variable of the same name prefixed
    ``REFBENCH_`` (e.g. ``REFBENCH_MODEL_DIR``). Secrets (API keys) are never fields
    here: they are read from the environment at the moment of use and never stored.
    """

    model_config = SettingsConfigDict(env_prefix="REFBENCH_", extra="forbid")

    data_dir: Path = Field(default=PROJECT_ROOT / "data")
    db_path: Path | None = None
    model_dir: Path | None = None
    reports_dir: Path = Field(default=PROJECT_ROOT / "reports")
    providers: list[str] | None = None  # None: CUDA when onnxruntime-gpu sees a GPU, else CPU
    max_image_pixels: int = 50_000_000
    max_file_bytes: int = 100_000_000
    object_detector: str = "opencv-darknet"
    face_model: str = "insightface"

    @property
    def database(self) -> Path:
        """The DuckDB file: ``db_path`` or ``<data_dir>/refbench.duckdb``."""
        return self.db_path or self.data_dir / "refbench.duckdb"

    @property
    def models(self) -> Path:
        """The model directory: ``model_dir`` or ``<data_dir>/models``."""
        return self.model_dir or self.data_dir / "models"

    @property
    def workspace_files(self) -> Path:
        """Folder for originals (by hash) and every derived image, beside the database."""
        return self.database.parent / "files"
