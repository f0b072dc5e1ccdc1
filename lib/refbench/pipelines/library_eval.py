"""``refbench evaluate-library``: the asset library measured on the labelled dev sets of ``data/samples``.

Builds a fresh workspace from the sample photos (manifest, local descriptions) and the library dev set
(``library.csv``, declared with ``--type auto``), indexes it, curates the characters' names from
``identities.csv``, then measures: asset-type accuracy per type, text-search precision@5 and MRR
(``library_queries.yaml``), image→identity precision@1 (leave one photo out), near-duplicate precision and
recall per method over generated variants (threshold sweeps), and auto-matching accuracy
(``scenes_auto.yaml``). Results go to a ``library_eval`` run and ``reports/library_eval.md``.
"""

from __future__ import annotations

import csv
import itertools
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import yaml
from refbench.describe.local import LocalDescriber
from refbench.faces import l2_normalize, largest_face
from refbench.identity import DEFAULT_THRESHOLDS
from refbench.ingest import load_image_rgb
from refbench.library.evaluation import (
    VARIANTS,
    make_variant,
    precision_at_k,
    reciprocal_rank,
    relevant_tags,
    scene_is_right,
    sweep,
)
from refbench.library.hashes import DEFAULT_MAX_PHASH_BITS, DEFAULT_MIN_COSINE, hamming, hash_bits, perceptual_hashes
from refbench.library.images import load_rgba
from refbench.library.search import LibraryEntry, LibraryIndex, LibrarySearcher
from refbench.pipelines.curation import rename_asset
from refbench.pipelines.describe import describe_assets
from refbench.pipelines.library import (
    LibraryModels,
    LibraryOptions,
    add_assets,
    infer_type,
    load_library_models,
    open_searcher,
    run_index,
)
from refbench.pipelines.manifest import ManifestOptions, run_manifest
from refbench.pipelines.plan import PlanOptions, plan_scenes
from refbench.registry import Workspace
from refbench.settings import Settings
from refbench.types import Metric


@dataclass
class LibraryEvaluation:
    """Every figure of one evaluation, with the rows behind it."""

    run_id: str = ""
    types: list[tuple[str, str, str, str]] = field(default_factory=list)  # path, expected, guessed, reason
    queries: list[tuple[str, float, float, list[str], int]] = field(default_factory=list)  # q, p@5, rr, top5, n rel
    queries_unnamed: list[float] = field(default_factory=list)  # p@5 of each query with the names left out
    identity: list[tuple[str, str, str, float]] = field(default_factory=list)  # file, expected, got, cosine
    rejections: list[tuple[str, str]] = field(default_factory=list)  # file of an absent person, what it matched
    duplicates: dict[str, dict] = field(default_factory=dict)
    scenes: list[tuple[str, list[str], bool]] = field(default_factory=list)  # scene, chosen, right
    seconds: dict[str, float] = field(default_factory=dict)

    def type_accuracy(self) -> dict[str, tuple[int, int]]:
        """Asset type → (correct, total)."""
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for _, expected, guessed, _ in self.types:
            counts[expected][0] += expected == guessed
            counts[expected][1] += 1
        return {k: (v[0], v[1]) for k, v in sorted(counts.items())}

    def metrics(self) -> list[Metric]:
        """Run-level figures (and per-type accuracy with the type as label)."""
        correct = sum(e == g for _, e, g, _ in self.types)
        out = [
            Metric("type_accuracy", correct / max(len(self.types), 1), "fraction"),
            Metric("text_precision_at_5", float(np.mean([q[1] for q in self.queries])), "fraction"),
            Metric("text_mrr", float(np.mean([q[2] for q in self.queries])), "fraction"),
            Metric("text_precision_at_5_without_names", float(np.mean(self.queries_unnamed)), "fraction"),
            Metric("identity_precision_at_1", float(np.mean([e == g for _, e, g, _ in self.identity])), "fraction"),
            Metric("identity_false_matches", sum(bool(g) for _, g in self.rejections), "queries"),
            Metric("automatch_accuracy", float(np.mean([r for _, _, r in self.scenes])), "fraction"),
        ]
        out += [Metric("type_accuracy", c / n, "fraction", label=k) for k, (c, n) in self.type_accuracy().items()]
        for method, figures in self.duplicates.items():
            out += [Metric(f"duplicates_{method}_{k}", v, None) for k, v in figures.items() if isinstance(v, float)]
        return out


def evaluate_library(settings: Settings, *, samples: Path, progress: bool = False) -> LibraryEvaluation:
    """Build the dev workspace in ``settings`` (it should be empty) and measure everything (module docstring)."""
    evaluation = LibraryEvaluation()
    models = load_library_models(LibraryOptions(), settings)
    timer = time.perf_counter()
    run_manifest(samples / "photos", settings=settings, options=ManifestOptions())
    describe_assets(settings, LocalDescriber())
    rows = list(csv.DictReader((samples / "library.csv").open()))
    measure_types(evaluation, rows, samples=samples, models=models, settings=settings)
    for row in rows:
        if row["path"].startswith("library/"):
            add_assets([samples / row["path"]], settings=settings, name=row["name"], models=models, index=False)
    curate_characters(settings, samples / "identities.csv")
    run_index(settings, models=models, progress=progress)
    evaluation.seconds["build"] = time.perf_counter() - timer
    for step, measure in (
        ("text", lambda: measure_text(evaluation, settings, samples / "library_queries.yaml", models)),
        ("identity", lambda: measure_identity(evaluation, samples, models)),
        ("duplicates", lambda: measure_duplicates(evaluation, samples, rows, models)),
        ("automatch", lambda: measure_automatch(evaluation, settings, samples)),
    ):
        timer = time.perf_counter()
        measure()
        evaluation.seconds[step] = time.perf_counter() - timer
    with Workspace.open(settings) as ws, ws.runs.track("library_eval", {"samples": str(samples)}) as run:
        evaluation.run_id = run.run_id
        run.log_many(evaluation.metrics())
    return evaluation


def measure_types(
    evaluation: LibraryEvaluation, rows: list[dict], *, samples: Path, models: LibraryModels, settings: Settings
) -> None:
    """The type rules on every labelled asset of ``library.csv``."""
    for row in rows:
        image = load_rgba(samples / row["path"], limits=settings.image_limits)
        guessed, reason = infer_type(image, "auto", models)
        evaluation.types.append((row["path"], row["asset_type"], guessed, reason))


def curate_characters(settings: Settings, identities_csv: Path) -> None:
    """Name each character after the labelled person of its source photo ("Barack Obama"), as a user would."""
    people = {r["file"]: r["identity"].replace("_", " ").title() for r in csv.DictReader(identities_csv.open())}
    with Workspace.open(settings, read_only=True) as ws:
        characters = list(ws.assets.list().of_type("character"))
    for asset in characters:
        if asset.source_image_file in people:
            rename_asset(settings, asset.tag, people[asset.source_image_file])


def measure_text(evaluation: LibraryEvaluation, settings: Settings, queries: Path, models: LibraryModels) -> None:
    """precision@5 and reciprocal rank of every dev query; again with the assets' names left out of their
    documents (an ablation: how much content alone — classes, OCR, colours, descriptions — finds)."""
    searcher = open_searcher(settings, models=models)
    unnamed = _without_names(searcher, models)
    with Workspace.open(settings, read_only=True) as ws:
        assets = list(ws.assets.list())
    for item in yaml.safe_load(queries.read_text())["queries"]:
        relevant = relevant_tags(assets, item["relevant"])
        ranked = [h.tag for h in searcher.search(text=item["query"], k=10)]
        rank = reciprocal_rank(ranked, relevant)
        evaluation.queries.append((item["query"], precision_at_k(ranked, relevant), rank, ranked[:5], len(relevant)))
        blind = [h.tag for h in unnamed.search(text=item["query"], k=10)]
        evaluation.queries_unnamed.append(precision_at_k(blind, relevant))


def _without_names(searcher: LibrarySearcher, models: LibraryModels) -> LibrarySearcher:
    """The same library with each document's leading name removed (documents start with "<name>. ")."""
    index = searcher.index
    entries = [
        replace(e, document=e.document.split(". ", 1)[1] if ". " in e.document else e.document, name=e.tag)
        for e in index.entries
    ]
    text = models.text.embed_texts([e.document for e in entries])
    blind = LibraryIndex(entries, index.visual, text, index.colour, identities=index.identities)
    return LibrarySearcher(blind, text_embedder=models.text, image_embedder=models.image)


def measure_identity(evaluation: LibraryEvaluation, samples: Path, models: LibraryModels) -> None:
    """Leave one photo out: each labelled photo of a person with another photo is searched against identities
    made of the other photos (the real ``identity_hits`` path); photos of people absent from the gallery, and
    the distractors' faces, must match nothing."""
    labels = {r["file"]: r["identity"] for r in csv.DictReader((samples / "identities.csv").open())}
    faces = {}
    for file in labels:
        found = largest_face(models.faces.analyze(load_image_rgb(samples / "photos" / file)))
        if len(found):
            faces[file] = found.data["embedding"][0]
    people = defaultdict(list)
    for file, person in labels.items():
        if file in faces:
            people[person].append(file)
    for file, person in labels.items():
        gallery = {
            p: np.mean([faces[f] for f in files if f != file], axis=0)
            for p, files in people.items()
            if any(f != file for f in files)
        }
        hits = _identity_searcher(gallery, models).identity_hits(load_image_rgb(samples / "photos" / file))
        got, cosine = (hits[0].tag, hits[0].score) if hits else ("", 0.0)
        if person in gallery:
            evaluation.identity.append((file, person, got, cosine))
        else:
            evaluation.rejections.append((file, got))
    gallery = {p: np.mean([faces[f] for f in files], axis=0) for p, files in people.items()}
    searcher = _identity_searcher(gallery, models)
    for file in sorted((samples / "distractors").iterdir()):
        for face in models.faces.analyze(load_image_rgb(file)).data.get("embedding", []):
            cosines = {p: float(v[: len(face)] @ face / np.linalg.norm(v)) for p, v in gallery.items()}
            best = max(cosines, key=cosines.get)
            evaluation.rejections.append(
                (f"distractors/{file.name}", best if cosines[best] >= searcher.index.face_threshold else "")
            )


def _identity_searcher(gallery: dict[str, np.ndarray], models: LibraryModels) -> LibrarySearcher:
    tags = sorted(gallery)
    entries = [LibraryEntry(t, "character", t, "", "", t) for t in tags]
    zeros = np.zeros((len(tags), 1), np.float32)
    centroids = {t: l2_normalize(gallery[t][None])[0] for t in tags}
    index = LibraryIndex(
        entries, zeros, zeros, zeros, identities=centroids, face_threshold=DEFAULT_THRESHOLDS[models.face_model]
    )
    return LibrarySearcher(index, text_embedder=models.text, image_embedder=models.image, face_analyzer=models.faces)


def measure_duplicates(evaluation: LibraryEvaluation, samples: Path, rows: list[dict], models: LibraryModels) -> None:
    """pHash bits and visual cosine of every (variant, original) pair against every pair of different images."""
    paths = sorted((samples / "photos").iterdir()) + [
        samples / r["path"] for r in rows if r["path"].startswith("library/")
    ]
    originals = [load_image_rgb(p) for p in paths]
    images, source, kind = list(originals), list(range(len(originals))), ["original"] * len(originals)
    for i, image in enumerate(originals):
        for variant in VARIANTS:
            images.append(make_variant(image, variant))
            source.append(i)
            kind.append(variant)
    bits = hash_bits([perceptual_hashes(im).phash for im in images])
    visual = models.image.embed_images(images)
    pairs = [
        (a, b)
        for a, b in itertools.combinations(range(len(images)), 2)
        if kind[a] == "original" or kind[b] == "original"
    ]
    a, b = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    same = np.array([source[x] == source[y] for x, y in pairs])
    distance = np.array([hamming(bits[x], bits[y : y + 1])[0] for x, y in pairs])
    cosine = np.einsum("ij,ij->i", visual[a], visual[b])
    labels = np.array([kind[y] if kind[x] == "original" else kind[x] for x, y in pairs])
    for method, scores, grid, closer, default in (
        ("phash", distance, np.arange(0, 33), False, DEFAULT_MAX_PHASH_BITS),
        ("visual", cosine, np.round(np.arange(0.80, 1.0001, 0.005), 3), True, DEFAULT_MIN_COSINE),
    ):
        result = sweep(scores, same, grid, higher_is_closer=closer)
        best = result.best_at_full_precision()
        flagged = scores >= default if closer else scores <= default
        evaluation.duplicates[method] = {
            "best_threshold": float(result.thresholds[best]),
            "best_precision": float(result.precision[best]),
            "best_recall": float(result.recall[best]),
            "threshold": float(default),
            "precision": float((flagged & same).sum() / max(flagged.sum(), 1)),
            "recall": float((flagged & same).sum() / max(same.sum(), 1)),
            "hardest_distinct": float(scores[~same].max() if closer else scores[~same].min()),
            **{f"recall_{v}": float(flagged[same & (labels == v)].mean()) for v in VARIANTS},
        }
    either = (distance <= DEFAULT_MAX_PHASH_BITS) | (cosine >= DEFAULT_MIN_COSINE)
    evaluation.duplicates["either"] = {
        "precision": float((either & same).sum() / max(either.sum(), 1)),
        "recall": float((either & same).sum() / max(same.sum(), 1)),
        "positives": float(same.sum()),
        "negatives": float((~same).sum()),
        **{f"recall_{v}": float(either[same & (labels == v)].mean()) for v in VARIANTS},
    }


def measure_automatch(evaluation: LibraryEvaluation, settings: Settings, samples: Path) -> None:
    """``plan --auto`` (dry run) on the auto-matching scenes; each compared with its expected references."""
    expected = yaml.safe_load((samples / "scenes_auto_expected.yaml").read_text())
    planned = plan_scenes(
        samples / "scenes_auto.yaml", settings=settings, options=PlanOptions(), store_results=False, auto=True
    )
    with Workspace.open(settings, read_only=True) as ws:
        assets = list(ws.assets.list())
    for item in planned.plans:
        items = [relevant_tags(assets, alternatives) for alternatives in expected[item.scene.scene_id]]
        chosen = item.selection.tags
        evaluation.scenes.append((item.scene.scene_id, chosen, scene_is_right(chosen, items)))


def write_library_report(evaluation: LibraryEvaluation, path: Path) -> Path:
    """The figures as markdown tables (the README's asset-library section quotes them)."""
    m = {x.name: x.value for x in evaluation.metrics() if x.label is None}
    lines = [f"# Asset library evaluation {evaluation.run_id}", "", "| figure | value |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in m.items() if v is not None]
    lines += ["", "## Asset types", "", "| type | correct | total |", "|---|---|---|"]
    lines += [f"| {k} | {c} | {n} |" for k, (c, n) in evaluation.type_accuracy().items()]
    lines += ["", "| file | expected | guessed | reason |", "|---|---|---|---|"]
    lines += [f"| {p} | {e} | {g} | {r} |" for p, e, g, r in evaluation.types]
    lines += ["", "## Text search", "", "| query | P@5 | RR | relevant | top 5 |", "|---|---|---|---|---|"]
    lines += [f"| {q} | {p:.2f} | {rr:.2f} | {n} | {' '.join(top)} |" for q, p, rr, top, n in evaluation.queries]
    lines += [
        "",
        "## Image → identity (leave one photo out)",
        "",
        "| photo | person | top hit | cosine |",
        "|---|---|---|---|",
    ]
    lines += [f"| {f} | {e} | {g or '(none)'} | {c:.2f} |" for f, e, g, c in evaluation.identity]
    lines += ["", "Faces of people absent from the gallery (must match nothing):", ""]
    lines += [f"- {f}: {g or 'no match'}" for f, g in evaluation.rejections]
    lines += ["", "## Near-duplicates", "", "| method | figure | value |", "|---|---|---|"]
    lines += [f"| {meth} | {k} | {v:.3f} |" for meth, figs in evaluation.duplicates.items() for k, v in figs.items()]
    lines += ["", "## Auto-matching", "", "| scene | chosen | right |", "|---|---|---|"]
    lines += [f"| {s} | {' '.join(c) or '(none)'} | {'yes' if r else 'no'} |" for s, c, r in evaluation.scenes]
    lines += ["", "Seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in evaluation.seconds.items())]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
