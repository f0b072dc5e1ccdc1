"""Brand pipelines: judge which assets are logos, keep each logo's position preference, overlay logos.

``refbench logos``, ``refbench overlay`` and notebook 06 call these. An overlay needs no workspace when LOGO and
TARGET are files; when a workspace exists it resolves tags (LOGO_01) and generated outputs (a scene or request
id) and records each overlay as an ``overlay`` run.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from refbench.brand.artwork import Artwork, load_artwork
from refbench.brand.logos import LogoDetector, LogoVerdict
from refbench.brand.overlay import LOSSLESS_SUFFIXES, OverlayOptions, OverlayPlan, overlay_image, save_image
from refbench.brand.overlay import plan_overlay as plan_frames
from refbench.brand.placement import AUTO, CORNERS
from refbench.brand.video import VIDEO_SUFFIXES, Progress, Timing, VideoEncoding, overlay_video, sample_frames
from refbench.errors import ImageRejected, InputNotFound, OptionError
from refbench.faces import create_face_analyzer
from refbench.ingest import load_image_rgb
from refbench.ingest.imaging import read_file
from refbench.library.images import as_rgb, load_rgba
from refbench.provision.weights import file_sha256
from refbench.registry import Workspace
from refbench.registry.brand import OverlayRecord, StoredLogo
from refbench.settings import Settings
from refbench.types import Detections, Metric

# --- logo verdicts -------------------------------------------------------------------------------------------


@dataclass
class LogoRun:
    """What ``judge_logos`` did: verdicts by tag, tags left as they were, tags that could not be read."""

    run_id: str
    verdicts: dict[str, LogoVerdict] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def judge_logos(settings: Settings, *, tags: list[str] | None = None, ocr: bool = True, force: bool = False) -> LogoRun:
    """Judge every active asset (or ``tags``) whose crop is new or changed: is it a logo, how sure, and why.

    Text comes from the library's OCR of the crop (``refbench index``); an asset indexed without it is read now
    when ``ocr`` is set, else judged without text (the verdict says so).
    """
    detector = LogoDetector()
    reader = None
    with Workspace.open(settings, create=False) as ws:
        assets = ws.assets.list()
        chosen = [assets[tag] for tag in tags] if tags else list(assets)
        done = ws.brand.judged()
        with ws.runs.track("logos", {"tags": tags, "ocr": ocr, "force": force}) as run:
            summary = LogoRun(run.run_id)
            for asset in chosen:
                try:
                    content = file_sha256(asset.crop_path)
                    image = load_rgba(asset.crop_path, limits=settings.image_limits)
                except (OSError, ImageRejected) as error:
                    summary.skipped[asset.tag] = str(error)
                    continue
                if not force and done.get(asset.asset_id) == content:
                    summary.unchanged.append(asset.tag)
                    continue
                text = ws.brand.stored_text(asset.asset_id, content_sha256=content)
                if text is None and ocr:
                    reader = reader or _ocr_reader()
                    text = reader.read(as_rgb(image))
                verdict = detector.judge(image, text=text)
                ws.brand.save_verdict(asset.asset_id, verdict, content_sha256=content, run_id=run.run_id)
                summary.verdicts[asset.tag] = verdict
            run.log(
                Metric("assets_judged", len(summary.verdicts), "assets"),
                Metric("logos", sum(v.is_logo for v in summary.verdicts.values()), "assets"),
                Metric("skipped", len(summary.skipped), "assets"),
            )
    return summary


def _ocr_reader():  # noqa: ANN202 - RapidOcrReader, imported lazily (heavy)
    from refbench.library.ocr import create_ocr_reader

    return create_ocr_reader()


def list_logos(settings: Settings, *, only_logos: bool = False) -> list[StoredLogo]:
    """The judged assets (``v_logos``), read-only."""
    with Workspace.open(settings, read_only=True, create=False) as ws:
        return ws.brand.logos(only_logos=only_logos)


def set_logo_position(tag: str, corner: str, *, settings: Settings) -> None:
    """Keep ``corner`` (or ``auto``) as where this logo goes unless an overlay says otherwise."""
    if corner not in (AUTO, *CORNERS):
        raise OptionError(f"corner {corner!r} is not one of {', '.join((AUTO, *CORNERS))}")
    with Workspace.open(settings, create=False) as ws:
        ws.brand.set_preference(ws.assets.list()[tag].asset_id, corner)


# --- overlays ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverlayOutcome:
    """What an overlay wrote and why it placed the logo where it did."""

    out: Path
    kind: str  # image | video
    plan: OverlayPlan
    corner_source: str  # requested | preference of LOGO_01 | auto
    frames: int | None = None
    frames_with_logo: int | None = None
    audio_packets: int | None = None
    pixel_exact: bool = True  # False for lossy outputs (JPEG, every video)
    run_id: str | None = None

    def to_json(self) -> dict:
        """The ``--json`` object: ``xywh``, ``corner`` and ``reason``, then the rest."""
        logo = self.plan.logo
        return {
            **self.plan.placement.to_json(),
            "out": str(self.out),
            "kind": self.kind,
            "corner_from": self.corner_source,
            "logo_wh": list(logo.wh),
            "resampling": logo.how,
            "pixel_exact": self.pixel_exact,
            **({"frames": self.frames, "frames_with_logo": self.frames_with_logo} if self.kind == "video" else {}),
            **({"audio_packets_copied": self.audio_packets} if self.kind == "video" else {}),
            "run_id": self.run_id,
        }


@dataclass(frozen=True)
class ResolvedLogo:
    """The logo's artwork, and its asset id and position preference when it is a workspace asset."""

    artwork: Artwork
    asset_id: str | None = None
    preference: str = AUTO


def overlay(
    logo: str,
    target: str,
    out: Path,
    *,
    settings: Settings,
    options: OverlayOptions,
    corner_given: bool = True,
    check_faces: bool = True,
    timing: Timing = Timing(),  # noqa: B008 - frozen value
    encoding: VideoEncoding = VideoEncoding(),  # noqa: B008 - frozen value
    progress: Progress | None = None,
) -> OverlayOutcome:
    """Composite ``logo`` (a file or an asset tag) onto ``target`` (an image or video file, or a generated output:
    a request or scene id) and write ``out``; the target is never modified.

    Args:
        corner_given: whether ``options.corner`` was asked for; when not, an asset's position preference wins.
        check_faces: detect faces for ``auto`` (the settings' face model); off, corners are judged on calm alone.

    Raises:
        InputNotFound: the logo or target is neither a file nor known to the workspace.
        OptionError: ``out`` would overwrite the target or the logo, or has an unsupported suffix.
    """
    has_workspace = settings.database.is_file()
    resolved = _resolve_logo(logo, settings=settings, has_workspace=has_workspace)
    source = _resolve_target(target, settings=settings, has_workspace=has_workspace)
    _refuse_overwrite(out, source, logo)
    corner_source = "requested"
    if not corner_given and resolved.preference != AUTO:
        options = OverlayOptions(**{**options.__dict__, "corner": resolved.preference})
        corner_source = f"position preference of {logo}"
    elif not corner_given:
        corner_source = "auto"
    faces = _face_finder(settings) if check_faces and options.corner == AUTO else None
    if source.suffix.lower() in VIDEO_SUFFIXES:
        outcome = _overlay_video(resolved.artwork, source, out, options, faces, timing, encoding, progress, settings)
    else:
        outcome = _overlay_image(resolved.artwork, source, out, options, faces, settings)
    outcome = OverlayOutcome(**{**outcome.__dict__, "corner_source": corner_source})
    if has_workspace:
        outcome = _record(
            outcome, logo=logo, target=str(source), asset_id=resolved.asset_id, options=options, settings=settings
        )
    return outcome


def _overlay_image(artwork, source, out, options, faces, settings) -> OverlayOutcome:  # noqa: ANN001
    target = load_image_rgb(source, limits=settings.image_limits)
    found = faces(target) if faces is not None else None
    image, plan = overlay_image(target, artwork, options=options, faces=found, limits=settings.image_limits)
    save_image(image, out, icc_profile=_icc_profile(source, settings))
    return OverlayOutcome(out, "image", plan, "", pixel_exact=out.suffix.lower() in LOSSLESS_SUFFIXES)


def _overlay_video(artwork, source, out, options, faces, timing, encoding, progress, settings) -> OverlayOutcome:  # noqa: ANN001, PLR0913
    frames = sample_frames(source, start_s=timing.start_s, end_s=timing.end_s)
    found = [faces(frame) for frame in frames] if faces is not None else []
    plan = plan_frames(frames, artwork, options=options, faces=found, limits=settings.image_limits)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.stem}.", suffix=out.suffix, delete=False)  # noqa: SIM115
    handle.close()
    try:
        result = overlay_video(
            source,
            Path(handle.name),
            plan=plan,
            opacity=options.opacity,
            timing=timing,
            encoding=encoding,
            progress=progress,
        )
        os.replace(handle.name, out)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return OverlayOutcome(
        out,
        "video",
        plan,
        "",
        frames=result.frames_out,
        frames_with_logo=result.frames_with_logo,
        audio_packets=result.audio_packets,
        pixel_exact=False,
    )


def _record(
    outcome: OverlayOutcome,
    *,
    logo: str,
    target: str,
    asset_id: str | None,
    options: OverlayOptions,
    settings: Settings,
) -> OverlayOutcome:
    placement, fitted = outcome.plan.placement, outcome.plan.logo
    record = OverlayRecord(
        logo=logo,
        target=target,
        out_path=str(outcome.out),
        kind=outcome.kind,
        xywh=placement.xywh,
        corner=placement.corner,
        reason=placement.reason,
        width_px=fitted.wh[0],
        resampling=fitted.how,
        opacity=options.opacity,
        blend=options.blend,
        logo_asset_id=asset_id,
        frames=outcome.frames,
    )
    with Workspace.open(settings, create=False) as ws:
        parameters = {"logo": logo, "target": target, "out": str(outcome.out), **options.__dict__}
        with ws.runs.track("overlay", parameters) as run:
            ws.brand.save_overlay(record, run_id=run.run_id)
            run.log(Metric("logo_width_px", fitted.wh[0], "px"), Metric("frames", outcome.frames, "frames"))
    return OverlayOutcome(**{**outcome.__dict__, "run_id": run.run_id})


def _resolve_logo(logo: str, *, settings: Settings, has_workspace: bool) -> ResolvedLogo:
    path = Path(logo)
    if path.is_file():
        return ResolvedLogo(load_artwork(path, limits=settings.image_limits))
    if not has_workspace:
        raise InputNotFound(f"logo {logo!r} is no file (and there is no workspace to look it up as a tag)")
    with Workspace.open(settings, read_only=True, create=False) as ws:
        asset = ws.assets.list()[logo]  # UnknownTagError with the closest tags
        preference = ws.brand.preference(asset.asset_id)
    return ResolvedLogo(load_artwork(asset.crop_path, limits=settings.image_limits), asset.asset_id, preference)


def _resolve_target(target: str, *, settings: Settings, has_workspace: bool) -> Path:
    """A file as given, else the newest output file of a generation request (by request id, else scene id)."""
    path = Path(target)
    if path.is_file():
        return path
    if has_workspace:
        with Workspace.open(settings, read_only=True, create=False) as ws:
            requests = ws.plans.requests()
        for request in reversed(requests):
            files = [Path(o) for o in request.outputs if Path(o).is_file()]
            if target in (request.request_id, request.scene_id) and files:
                return files[-1]
    raise InputNotFound(f"target {target!r} is neither a file nor a generated output (request or scene id)")


def _refuse_overwrite(out: Path, target: Path, logo: str) -> None:
    for path, what in ((target, "target"), (Path(logo), "logo")):
        if out.exists() and path.exists() and out.resolve() == path.resolve():
            raise OptionError(f"--out {out} is the {what} itself: the {what} is never modified, choose another path")
    if out.suffix.lower() in VIDEO_SUFFIXES and target.suffix.lower() not in VIDEO_SUFFIXES:
        raise OptionError(f"{out.name}: an image target needs an image output (.png, .jpg, .webp, .tif)")


def _face_finder(settings: Settings):  # noqa: ANN202 - Callable[[np.ndarray], Detections]
    """The settings' face model as a function image → faces, loaded once per call of ``overlay``."""
    analyzer = create_face_analyzer(settings.face_model, model_dir=settings.models, providers=settings.providers)

    def find(image_rgb: np.ndarray) -> Detections:
        return analyzer.analyze(image_rgb)

    return find


def _icc_profile(path: Path, settings: Settings) -> bytes | None:
    data = read_file(path, max_file_bytes=settings.max_file_bytes)
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.info.get("icc_profile")
    except Exception:  # noqa: BLE001 - the decoder already accepted the file; a missing profile is no error
        return None
