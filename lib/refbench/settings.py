"""Workspace settings: constructor arguments or ``REFBENCH_*`` environment variables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The one place each default backend is named; options left unset fall back to the settings, whose
# defaults are these (override with REFBENCH_OBJECT_DETECTOR / REFBENCH_FACE_MODEL).
DEFAULT_DETECTOR = "opencv-darknet"
DEFAULT_FACE_MODEL = "insightface"
# Set to "1" in a report kernel's environment (``refbench report``): explorers then render a static still of
# their current state instead of widgets that no front-end will ever draw (``refbench.workbench.live``).
REPORT_MODE_ENV = "REFBENCH_REPORT_MODE"


class Settings(BaseSettings):
    """Where the workspace lives, how models run and how big an input may be.

    Every field can be set with an environment variable of the same name prefixed
    ``REFBENCH_`` (e.g. ``REFBENCH_MODEL_DIR``). Secrets (API keys) are never fields
    here: they are read from the environment at the moment of use and never stored.
    """

    model_config = SettingsConfigDict(env_prefix="REFBENCH_", extra="forbid")

    data_dir: Path = Field(default=PROJECT_ROOT / "data")
    db_path: Path | None = None
    model_dir: Path | None = None
    reports_dir: Path | None = None  # None: beside the workspace (see ``reports``)
    providers: list[str] | None = None  # None: CUDA when onnxruntime-gpu sees a GPU, else CPU
    max_image_pixels: int = Field(default=50_000_000, gt=0)  # decompression-bomb limit, checked from the header
    max_file_bytes: int = Field(default=100_000_000, gt=0)
    object_detector: str = DEFAULT_DETECTOR  # the default of every --detector option
    face_model: str = DEFAULT_FACE_MODEL  # the default of every --face-model option

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
        """Folder for originals (by hash) and every derived image, beside the database (``files_of``)."""
        return files_of(self.database)

    @property
    def reports(self) -> Path:
        """Where reports and plots go: ``reports_dir``, else beside the workspace — ``reports/`` next to the data
        folder for the default workspace (the project's ``reports/``), ``<folder of db_path>/reports`` otherwise."""
        if self.reports_dir is not None:
            return self.reports_dir
        default = self.data_dir / "refbench.duckdb"
        if self.db_path is None or self.db_path.resolve() == default.resolve():  # `--db data/refbench.duckdb` too
            return self.data_dir.parent / "reports"
        return self.database.parent / "reports"

    @property
    def image_limits(self) -> ImageLimits:
        """The input limits every decoder of user files applies."""
        return ImageLimits(max_pixels=self.max_image_pixels, max_file_bytes=self.max_file_bytes)

    def for_database(self, db_path: Path | None) -> Settings:
        """These settings pointed at another workspace file (``None``: unchanged)."""
        return self if db_path is None else self.model_copy(update={"db_path": Path(db_path)})


def files_of(database: Path) -> Path:
    """The folder of a workspace's files: ``files/`` beside ``refbench.duckdb``, ``<stem>_files/`` beside any other
    name, so that two workspaces in one folder never share (or overwrite) derived files."""
    return database.parent / ("files" if database.name == "refbench.duckdb" else f"{database.stem}_files")


@dataclass(frozen=True)
class ImageLimits:
    """How large an input image may be: pixels (checked from the header, before decoding) and bytes on disk."""

    max_pixels: int = Settings.model_fields["max_image_pixels"].default
    max_file_bytes: int = Settings.model_fields["max_file_bytes"].default
