"""The command line, run the way a user runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from refbench.cli import app
from typer.testing import CliRunner

runner = CliRunner()


def test_doctor_shows_every_default_backend_available(monkeypatch) -> None:
    result = runner.invoke(app, ["doctor"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for backend in ("opencv-darknet", "insightface", "opencv-yunet-sface"):
        line = next(line for line in result.output.splitlines() if backend in line and "available" in line)
        assert "unavailable" not in line
    assert "CPUExecutionProvider" in result.output and "non-commercial" in result.output


def test_manifest_command_prints_the_summary(tmp_path: Path, samples_dir: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("macron_1.jpg", "macron_2.jpg", "bus.jpg"):
        shutil.copy(samples_dir / name, photos / name)
    (photos / "broken.jpg").write_text("not a photo")
    db = tmp_path / "ws" / "refbench.duckdb"
    result = runner.invoke(
        app, ["manifest", str(photos), "--db", str(db), "--face-threshold", "0.3"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "identities" in result.output and "seconds: detect" in result.output
    assert "3 / 3" in result.output and "1 / 1" in result.output  # images and rejected, new / total
    assert db.is_file()


def test_project_errors_are_one_clear_line(tmp_path: Path) -> None:
    """The installed entry point (not typer's test runner) turns a project error into one line and exit 1."""
    command = [str(Path(sys.executable).with_name("refbench")), "manifest", str(tmp_path / "missing")]
    result = subprocess.run(
        [*command, "--db", str(tmp_path / "x.duckdb")], capture_output=True, text=True, timeout=120, check=False
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 1
    assert output.splitlines() == [f"error: {tmp_path / 'missing'} is not a folder"], output
    assert not (tmp_path / "x.duckdb").exists()
