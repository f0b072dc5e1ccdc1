"""Clean-sheet tier 4 over a workspace: generate each character's missing views, check them, store the new sheet.

Called by ``run_clean_sheets`` inside its ``clean`` run (``refbench clean --tier multi-angle``, or ``--auto``).
Per character: the view sheet (registered photos plus views generated before), one checked request per
missing view, a new stored sheet holding the accepted views, a tier-4 clean-sheet row per view (cost in USD),
and the whole job with every attempt in ``image_jobs``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from refbench.assets.crops import frame_face
from refbench.clean import CleanResult
from refbench.clean.multi_angle import ViewReference, generate_views
from refbench.faces import FaceAnalyzer
from refbench.faces.pose import View
from refbench.generation.attempts import MAX_ATTEMPTS, ImageJob
from refbench.generation.images import ImageGenerator, ImageInput
from refbench.identity.checks import OutputJudge
from refbench.identity.views import ViewSheet
from refbench.ingest import load_image_rgb
from refbench.pipelines.views import sheet_from_photos, store_sheet
from refbench.registry import Workspace
from refbench.settings import ImageLimits
from refbench.types import Asset


def current_sheet(ws: Workspace, tag: str, *, face_model: str) -> tuple[ViewSheet, int]:
    """The sheet from the registered photos, plus views generated before (newest stored sheet)."""
    sheet, n_faces = sheet_from_photos(ws, tag, face_model=face_model)
    stored = ws.views.latest(tag)
    if stored is None or stored.sheet.face_model != face_model:  # another model's yaw and checks do not carry over
        return sheet, n_faces
    generated = {v: i for v, i in stored.sheet.images.items() if i.source == "generated"}
    return sheet.with_images({v: i for v, i in generated.items() if v not in sheet.images}), n_faces


def view_references(ws: Workspace, sheet: ViewSheet, *, face_model: str, limits: ImageLimits) -> list[ViewReference]:
    """One reference per view of the sheet: a photo framed from its original so the face spans a fifth of the
    width, or a generated view as it is (generated at that framing)."""
    gallery = ws.faces.gallery(face_model)
    boxes = dict(zip(gallery.data["face_id"].tolist(), gallery.xyxy, strict=True)) if len(gallery) else {}
    references = []
    for image in sheet.images.values():
        role = f"identity reference ({image.view.value}, {image.image_file or image.path.name})"
        if image.source == "generated":
            pixels, source = load_image_rgb(image.path, limits=limits), image.path
        elif image.face_id in boxes:
            source = ws.images.by_file(image.image_file).stored_path
            pixels = frame_face(load_image_rgb(source, limits=limits), np.asarray(boxes[image.face_id]))
        else:
            continue
        references.append(ViewReference(image.yaw, ImageInput.fitted(pixels, role, source=source)))
    return references


def multi_angle_sheets(
    ws: Workspace,
    assets: Sequence[Asset],
    *,
    generator: ImageGenerator,
    analyzer: FaceAnalyzer,
    threshold: float,
    run_id: str,
    limits: ImageLimits,
    views: Sequence[View] | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> list[CleanResult]:
    """Generate and check the missing (or the given) views of each character; store sheets and jobs.

    Returns:
        One tier-4 clean-sheet row per view attempted (``ok`` or ``failed``), for ``ws.clean.save``.
    """
    centroids = ws.identities.centroids(analyzer.name)
    results: list[CleanResult] = []
    for asset in assets:
        sheet, n_faces = current_sheet(ws, asset.tag, face_model=analyzer.name)
        wanted = list(views) if views is not None else sheet.missing
        if not wanted:
            continue
        judge = OutputJudge(analyzer, identity=centroids[asset.identity_id], threshold=threshold)
        made = generate_views(
            wanted,
            references=view_references(ws, sheet, face_model=analyzer.name, limits=limits),
            generator=generator,
            judge=judge,
            out_dir=ws.files_dir / "clean" / "views" / run_id,
            description=asset.visual_description or "",
            max_attempts=max_attempts,
        )
        accepted = {g.view: g.image for g in made if g.image is not None}
        store_sheet(ws, sheet.with_images(accepted), n_faces=n_faces, run_id=run_id)
        job = ImageJob(
            "multi_angle",
            asset.tag,
            getattr(generator, "model", generator.name),
            tuple(g.step for g in made),
            "ok" if len(accepted) == len(made) else "failed",
            {"views": [v.value for v in wanted], "threshold": threshold, "max_attempts": max_attempts},
            f"{len(accepted)} of {len(made)} views accepted",
        )
        ws.image_jobs.save(job, run_id=run_id)
        results += [
            g.clean_result(tag=asset.tag, asset_id=asset.asset_id, threshold=threshold, generator=generator.name)
            for g in made
        ]
    return results
