"""``refbench evaluate-logos``: logo detection measured on the labelled dev set ``data/samples/logos.csv``.

Reported: precision and recall of the shipped model on logos vs photos and products; the same with the model
refitted leave-one-brand-out (every file of a brand, in every form, is held out together; each photo alone),
which is the honest figure for logos it has not seen; recall per form (as shipped, flattened to JPEG on
white); and how many non-logo graphics (toolbar icons, a silhouette) are called logos — pixel statistics
cannot tell those apart, and the report says so rather than hiding them.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from refbench.brand.logos import SHIPPED_MODEL, LogoDetector, LogoEvidence, LogoModel, fit_logo_model, measure
from refbench.library.images import as_rgb, load_rgba
from refbench.types import Metric


@dataclass(frozen=True)
class DevItem:
    """One labelled file of the dev set with its measured evidence."""

    path: str
    label: str  # logo | not_logo | graphic
    group: str  # the brand of a logo, the kind of a negative
    form: str
    evidence: LogoEvidence


@dataclass(frozen=True)
class Scores:
    """Precision and recall of logo calls, with the counts behind them."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        """Logo calls that are logos."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        """Logos called logos."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


@dataclass
class LogoEvaluation:
    """Every figure of ``evaluate-logos`` and the per-file calls behind them."""

    items: list[DevItem]
    shipped: dict[str, float] = field(default_factory=dict)  # path -> P(logo), shipped model
    held_out: dict[str, float] = field(default_factory=dict)  # path -> P(logo), model fitted without its group
    refit: LogoModel | None = None  # fitted on the whole dev set (what `--fit` prints)
    seconds_per_image: float = 0.0

    def scores(self, probabilities: dict[str, float]) -> Scores:
        """Logos vs photos/products (graphics left out)."""
        pairs = [(i.label == "logo", probabilities[i.path] >= 0.5) for i in self.items if i.label != "graphic"]
        return Scores(
            tp=sum(t and p for t, p in pairs),
            fp=sum(p and not t for t, p in pairs),
            fn=sum(t and not p for t, p in pairs),
            tn=sum(not t and not p for t, p in pairs),
        )

    def errors(self, probabilities: dict[str, float]) -> list[DevItem]:
        """Misjudged logos and photos/products."""
        return [i for i in self.items if i.label != "graphic" and (probabilities[i.path] >= 0.5) != (i.label == "logo")]

    def metrics(self) -> list[Metric]:
        """Every figure as metrics (labels: which model, which form)."""
        out = []
        for label, probabilities in (("shipped", self.shipped), ("leave-one-brand-out", self.held_out)):
            scores = self.scores(probabilities)
            out += [
                Metric("logo_precision", scores.precision, label=label),
                Metric("logo_recall", scores.recall, label=label),
            ]
        for form in sorted({i.form for i in self.items if i.label == "logo"}):
            logos = [i for i in self.items if i.label == "logo" and i.form == form]
            out.append(
                Metric("logo_recall_by_form", sum(self.held_out[i.path] >= 0.5 for i in logos) / len(logos), label=form)
            )
        graphics = [i for i in self.items if i.label == "graphic"]
        if graphics:
            flagged = sum(self.shipped[i.path] >= 0.5 for i in graphics) / len(graphics)
            out.append(Metric("graphics_called_logos", flagged, label="shipped"))
        out.append(Metric("seconds_per_image", self.seconds_per_image, "s"))
        return out


def load_dev_set(
    samples: Path, *, ocr: bool = True, progress: Callable[[int, int], None] | None = None
) -> list[DevItem]:
    """Measure every file of ``samples/logos.csv`` (OCR with RapidOCR when ``ocr``)."""
    from refbench.library.ocr import create_ocr_reader

    reader = create_ocr_reader() if ocr else None
    with (samples / "logos.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    items = []
    for index, row in enumerate(rows, start=1):
        image = load_rgba(samples / row["path"])
        text = reader.read(as_rgb(image)) if reader is not None else None
        items.append(DevItem(row["path"], row["label"], row["group"], row["form"], measure(image, text=text)))
        if progress is not None:
            progress(index, len(rows))
    return items


def evaluate_logos(
    samples: Path, *, ocr: bool = True, progress: Callable[[int, int], None] | None = None
) -> LogoEvaluation:
    """Measure the dev set, score the shipped model, and refit it leave-one-brand-out."""
    start = time.perf_counter()
    items = load_dev_set(samples, ocr=ocr, progress=progress)
    evaluation = LogoEvaluation(items, seconds_per_image=(time.perf_counter() - start) / max(1, len(items)))
    shipped = LogoDetector(model=SHIPPED_MODEL)
    evaluation.shipped = {i.path: shipped.judge_evidence(i.evidence).confidence for i in items}
    labelled = [i for i in items if i.label != "graphic"]
    groups = {i.group if i.label == "logo" else i.path for i in labelled}
    for group in sorted(groups):
        train = [i for i in labelled if (i.group if i.label == "logo" else i.path) != group]
        model = fit_logo_model([i.evidence for i in train], [i.label == "logo" for i in train])
        detector = LogoDetector(model=model)
        for item in labelled:
            if (item.group if item.label == "logo" else item.path) == group:
                evaluation.held_out[item.path] = detector.judge_evidence(item.evidence).confidence
    evaluation.refit = fit_logo_model([i.evidence for i in labelled], [i.label == "logo" for i in labelled])
    return evaluation


def write_logo_report(evaluation: LogoEvaluation, path: Path) -> Path:
    """A markdown report: the figures, then every misjudged file with its evidence."""
    shipped, held = evaluation.scores(evaluation.shipped), evaluation.scores(evaluation.held_out)
    n_logos = sum(i.label == "logo" for i in evaluation.items)
    n_negatives = sum(i.label == "not_logo" for i in evaluation.items)
    lines = [
        "# Logo detection on the dev set",
        "",
        f"{n_logos} logo files ({len({i.group for i in evaluation.items if i.label == 'logo'})} brands, as shipped and "
        f"flattened to JPEG on white) vs {n_negatives} photos and products; `refbench evaluate-logos`.",
        "",
        "| model | precision | recall | TP | FP | FN | TN |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {name} | {s.precision:.3f} | {s.recall:.3f} | {s.tp} | {s.fp} | {s.fn} | {s.tn} |"
            for name, s in (("shipped (fitted on this set)", shipped), ("leave-one-brand-out", held))
        ),
        "",
        *(f"- {m.name} [{m.label}]: {m.value:.3f}" for m in evaluation.metrics() if m.label not in ("shipped",)),
        "",
        "## Misjudged (leave-one-brand-out)",
        "",
        "| file | label | P(logo) | evidence |",
        "|---|---|---|---|",
    ]
    for item in evaluation.errors(evaluation.held_out):
        verdict = LogoDetector().judge_evidence(item.evidence)
        lines.append(
            f"| {item.path} | {item.label} | {evaluation.held_out[item.path]:.2f} | {'; '.join(verdict.reasons)} |"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
