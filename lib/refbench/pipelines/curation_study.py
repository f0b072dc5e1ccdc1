"""How many corrections take the automatic clustering to the ground truth, and whether they hold.

For each threshold, on a fresh workspace: register the photos, score the clustering against labelled faces
(BCubed F1), apply the fewest ``split`` and ``merge`` commands through the real API
(``refbench.pipelines.curation``), score again; then check that the corrections hold when every
correction is undone on a copy (back to the automatic result), after a re-run at another threshold, and
after a re-run that adds photos. ``refbench identities study`` runs it and records a ``curation_study`` run.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from refbench.curation.corrections import label_faces, load_face_points, plan_merges, plan_splits, restricted
from refbench.identity.metrics import bcubed
from refbench.pipelines import curation
from refbench.pipelines.manifest import Backends, ManifestOptions, run_manifest, shared_backends
from refbench.registry import Workspace
from refbench.settings import Settings
from refbench.types import Metric


@dataclass(frozen=True)
class StudyResult:
    """Corrections needed at one threshold, and BCubed F1 of the labelled faces at each step."""

    threshold: float
    faces: int
    labelled: int
    people: int
    identities: int
    f1_automatic: float
    splits: int
    merges: int
    faces_moved: int
    f1_corrected: float
    f1_all_undone: float
    rerun_threshold: float
    f1_after_rerun: float
    f1_after_new_photos: float | None
    held_after_rerun: float
    held_after_new_photos: float | None
    commands: tuple[str, ...] = field(default=())

    @property
    def corrections(self) -> int:
        """Commands needed to reach the ground truth."""
        return self.splits + self.merges


def run_corrections_study(
    settings: Settings,
    *,
    photos: Sequence[Path],
    truth_file: Path,
    thresholds: Sequence[float],
    new_photos: Path | None = None,
    backends: Backends | None = None,
) -> list[StudyResult]:
    """Measure corrections-to-ground-truth at each threshold and record them as a run in ``settings``' workspace.

    Args:
        settings: the workspace the results are recorded in (the study itself runs in temporary ones).
        photos: folders registered before correcting, in order.
        truth_file: ``file,x,y,identity`` points of the labelled faces.
        thresholds: clustering thresholds to start from; each is re-checked at the next one (cyclically).
        new_photos: a folder added after the corrections (``None``: that check is skipped).
        backends: loaded models (default: loaded once here).
    """
    points = load_face_points(truth_file)
    options = ManifestOptions().resolved(settings)
    backends = backends or shared_backends(options, model_dir=settings.models)
    results = []
    with tempfile.TemporaryDirectory(prefix="refbench-study-") as tmp:
        for index, threshold in enumerate(thresholds):
            rerun = thresholds[(index + 1) % len(thresholds)]
            root = Path(tmp) / f"t{index}"
            study = Settings(data_dir=root, model_dir=settings.models, reports_dir=root / "reports")
            results.append(
                _study_one(
                    study, photos, points, threshold=threshold, rerun=rerun, new_photos=new_photos, backends=backends
                )
            )
    _record(settings, results, truth_file=truth_file, photos=photos)
    return results


def _study_one(
    settings: Settings,
    photos: Sequence[Path],
    points: list,
    *,
    threshold: float,
    rerun: float,
    new_photos: Path | None,
    backends: Backends,
) -> StudyResult:
    def manifest(folder: Path, at: float) -> None:
        run_manifest(folder, settings=settings, options=ManifestOptions(face_threshold=at), backends=backends)

    for folder in photos:
        manifest(folder, threshold)
    with Workspace.open(settings, read_only=True) as ws:
        n_faces = ws.faces.count()
    truth, assignment = _labelled(settings, points)
    automatic = _f1(assignment, truth)
    splits, merges, moved, commands = _correct(settings, points, truth)
    corrected = _labelled(settings, points)[1]
    undone = _undo_all_on_copy(settings, points)
    manifest(photos[-1], rerun)  # a re-run at another threshold re-clusters every face
    after_rerun, held_rerun = _f1(_labelled(settings, points)[1], truth), _held(settings)
    after_new = held_new = None
    if new_photos is not None:
        manifest(new_photos, rerun)
        after_new, held_new = _f1(_labelled(settings, points)[1], truth), _held(settings)
    n_identities = len(set(assignment.values()))
    return StudyResult(
        threshold=threshold,
        faces=n_faces,
        labelled=len(truth),
        people=len(set(truth.values())),
        identities=n_identities,
        f1_automatic=automatic,
        splits=splits,
        merges=merges,
        faces_moved=moved,
        f1_corrected=_f1(corrected, truth),
        f1_all_undone=undone,
        rerun_threshold=rerun,
        f1_after_rerun=after_rerun,
        f1_after_new_photos=after_new,
        held_after_rerun=held_rerun,
        held_after_new_photos=held_new,
        commands=tuple(commands),
    )


def _correct(
    settings: Settings, points: list, truth: dict[str, str], *, rounds: int = 10
) -> tuple[int, int, int, list[str]]:
    """Split, then merge, until the labelled faces match the truth: a split can reveal a merge that the split
    faces had hidden, as it does for a user. Returns (splits, merges, faces moved, commands)."""
    n_splits = n_merges = moved = 0
    commands: list[str] = []
    for _ in range(rounds):
        splits = plan_splits(_labelled(settings, points)[1], truth)
        for split in splits:
            curation.split_identity(settings, split.tag, choice=curation.FaceChoice(faces=split.faces))
            commands.append(f"identities split {split.tag} " + " ".join(f"--face {f}" for f in split.faces))
            moved += len(split.faces)
        clean = _labelled(settings, points)[1]
        merges = plan_merges(clean, truth)
        for merge in merges:
            curation.merge_identities(settings, merge.target, merge.sources)
            commands.append(f"identities merge {merge.target} {' '.join(merge.sources)}")
            moved += sum(1 for tag in clean.values() if tag in merge.sources)
        n_splits, n_merges = n_splits + len(splits), n_merges + len(merges)
        if not splits and not merges:
            break
    return n_splits, n_merges, moved, commands


def _held(settings: Settings) -> float:
    """Fraction of the active merges and splits whose effect still shows: merged faces share one identity, split
    faces share none with the faces they left (1.0 when there is none)."""
    with Workspace.open(settings, read_only=True) as ws:
        gallery = ws.faces.gallery(ws.identities.active_face_model() or "")
        events = [e for e in ws.curation.events() if not e.undone and e.kind in ("merge", "split")]
    tag = dict(zip(gallery.data["face_id"].tolist(), gallery.data["identity_tag"].tolist(), strict=True))
    kept = []
    for e in events:
        if e.kind == "merge":
            kept.append(len({tag.get(f) for f in e.payload["members"]}) == 1)
        else:
            kept.append(not {tag.get(f) for f in e.payload["faces"]} & {tag.get(f) for f in e.payload["remaining"]})
    return sum(kept) / len(kept) if kept else 1.0


def _labelled(settings: Settings, points: list) -> tuple[dict[str, str], dict[str, str]]:
    """(face id → true identity, face id → tag) of the labelled faces of the workspace's face model."""
    with Workspace.open(settings, read_only=True) as ws:
        gallery = ws.faces.gallery(ws.identities.active_face_model() or "")
    truth = label_faces(points, gallery)
    assignment = dict(zip(gallery.data["face_id"].tolist(), gallery.data["identity_tag"].tolist(), strict=True))
    return truth, {f: t for f, t in assignment.items() if f in truth}


def _f1(assignment: dict[str, str], truth: dict[str, str]) -> float:
    return bcubed(*restricted(assignment, truth))[2]


def _undo_all_on_copy(settings: Settings, points: list) -> float:
    """BCubed F1 once every correction is undone, on a copy of the workspace database."""
    copy = settings.database.with_name("undo-check.duckdb")
    shutil.copy(settings.database, copy)
    copied = settings.for_database(copy)
    while curation.undo(copied) is not None:
        pass
    truth, assignment = _labelled(copied, points)
    return _f1(assignment, truth)


def _record(settings: Settings, results: list[StudyResult], *, truth_file: Path, photos: Sequence[Path]) -> Path:
    """Store the results as a ``curation_study`` run and write ``reports/curation_study.md``."""
    metrics = []
    for r in results:
        label = f"threshold {r.threshold:g}"
        for name, value in asdict(r).items():
            if isinstance(value, int | float) and not isinstance(value, bool) and name != "threshold":
                metrics.append(Metric(name, float(value), None, None, label))
    parameters = {
        "truth": str(truth_file),
        "photos": [str(p) for p in photos],
        "thresholds": [r.threshold for r in results],
    }
    with Workspace.open(settings) as ws, ws.runs.track("curation_study", parameters) as run:
        run.log_many(metrics)
    return write_study_report(results, settings.reports / "curation_study.md", run_id=run.run_id)


def write_study_report(results: list[StudyResult], path: Path, *, run_id: str) -> Path:
    """A markdown table of the results and the commands each threshold needed."""
    lines = [
        f"# Corrections to ground truth ({run_id})",
        "",
        "| threshold | faces (labelled) | people | identities | BCubed F1 auto | splits | merges | faces moved |"
        " F1 corrected | F1 all undone | re-run at: F1, corrections held | new photos: F1, held |",
        "|---" * 12 + "|",
    ]
    for r in results:
        new = "—" if r.f1_after_new_photos is None else f"{r.f1_after_new_photos:.4f}, {r.held_after_new_photos:.0%}"
        lines.append(
            f"| {r.threshold:g} | {r.faces} ({r.labelled}) | {r.people} | {r.identities} | {r.f1_automatic:.4f} |"
            f" {r.splits} | {r.merges} | {r.faces_moved} | {r.f1_corrected:.4f} | {r.f1_all_undone:.4f} |"
            f" {r.rerun_threshold:g}: {r.f1_after_rerun:.4f}, {r.held_after_rerun:.0%} | {new} |"
        )
    for r in results:
        lines += ["", f"Commands at {r.threshold:g}:", "", *[f"    refbench {c}" for c in r.commands or ["(none)"]]]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
