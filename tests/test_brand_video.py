"""Logo overlay on video: every frame, same frame count, rate and duration, audio copied byte for byte, timing."""

from __future__ import annotations

import hashlib
import importlib.resources
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from refbench.brand.artwork import load_artwork
from refbench.brand.overlay import OverlayOptions, plan_overlay
from refbench.brand.video import Timing, overlay_video, probe_video, rgb_to_yuv, yuv_to_rgb
from refbench.errors import OptionError
from refbench.ingest import load_image_rgb
from refbench.pipelines.brand import overlay
from refbench.settings import PROJECT_ROOT, Settings

PHOTOS = PROJECT_ROOT / "data" / "samples" / "photos"
LOGO = Path(str(importlib.resources.files("distributed").joinpath("http/static/images/pandas.png")))
FPS, FRAMES, SIZE = 25, 30, (320, 240)


def make_clip(path: Path, *, video_codec: str, audio_codec: str, frames: int = FRAMES) -> None:
    """A real photo panned across ``frames`` frames at 25 fps, with a 440 Hz tone as its audio."""
    photo = load_image_rgb(PHOTOS / "bus.jpg")
    with av.open(str(path), "w") as out:
        video = out.add_stream(video_codec, rate=FPS)
        video.width, video.height, video.pix_fmt = *SIZE, "yuv420p"
        video.options = {"deadline": "realtime", "cpu-used": "8"} if "vpx" in video_codec else {"preset": "ultrafast"}
        audio = out.add_stream(audio_codec, rate=48000)
        audio.layout = "stereo"
        for index in range(frames):
            crop = photo[200 : 200 + 480, 100 + index * 4 : 100 + index * 4 + 640]
            frame = av.VideoFrame.from_ndarray(np.asarray(Image.fromarray(crop).resize(SIZE)), format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode())
        samples = np.sin(2 * np.pi * 440 * np.arange(int(48000 * frames / FPS)) / 48000).astype(np.float32) * 0.3
        for start in range(0, len(samples), 960):
            chunk = samples[start : start + 960]
            block = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]).reshape(1, -1), format="flt", layout="stereo")
            block.sample_rate, block.pts = 48000, start
            out.mux(audio.encode(block))
        out.mux(audio.encode())


def audio_packets(path: Path) -> tuple[str, list[tuple[int | None, int]]]:
    """sha256 of every audio packet's bytes, and each packet's (pts, size) in stream order."""
    digest, packets = hashlib.sha256(), []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        for packet in container.demux(stream):
            if packet.size:
                digest.update(bytes(packet))
                packets.append((packet.pts, packet.size))
    return digest.hexdigest(), packets


def frames_rgb(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.mark.parametrize(
    ("suffix", "video_codec", "audio_codec"), [(".mp4", "libx264", "aac"), (".webm", "libvpx-vp9", "libopus")]
)
def test_video_overlay_keeps_frames_timing_and_audio(
    tmp_path: Path, suffix: str, video_codec: str, audio_codec: str
) -> None:
    clip, out = tmp_path / f"clip{suffix}", tmp_path / f"branded{suffix}"
    make_clip(clip, video_codec=video_codec, audio_codec=audio_codec)
    before = hashlib.sha256(clip.read_bytes()).hexdigest()
    settings = Settings(data_dir=tmp_path / "none", model_dir=PROJECT_ROOT / "data" / "models")
    seen: list[tuple[int, int]] = []
    outcome = overlay(
        str(LOGO),
        str(clip),
        out,
        settings=settings,
        options=OverlayOptions(corner="top-left", width_px=64),
        progress=lambda done, total: seen.append((done, total)),
    )
    source, result = probe_video(clip), probe_video(out)
    originals, branded = frames_rgb(clip), frames_rgb(out)
    assert len(originals) == len(branded) == FRAMES == outcome.frames == outcome.frames_with_logo
    assert result.fps == source.fps == FPS and abs(result.duration_s - source.duration_s) <= 1 / FPS
    assert result.audio == source.audio and audio_packets(out) == audio_packets(clip)  # copied, byte for byte
    assert seen[-1][0] == FRAMES and hashlib.sha256(clip.read_bytes()).hexdigest() == before
    x, y, w, h = outcome.plan.placement.xywh
    logo = outcome.plan.logo.rgba
    solid = logo[:, :, 3] == 255
    for original, frame in zip(originals, branded, strict=True):  # the logo is in every frame ...
        box, was = frame[y : y + h, x : x + w].astype(int), original[y : y + h, x : x + w].astype(int)
        assert (
            np.abs(box[solid] - logo[:, :, :3][solid].astype(int)).mean()
            < 12
            < np.abs(was[solid] - logo[:, :, :3][solid]).mean()
        )
        outside = np.ones(frame.shape[:2], bool)
        outside[y - 2 : y + h + 2, x - 2 : x + w + 2] = False
        assert np.abs(frame[outside].astype(int) - original[outside]).mean() < 5  # ... and nowhere else (codec noise)


def test_start_end_and_fade(tmp_path: Path) -> None:
    clip, out = tmp_path / "clip.mov", tmp_path / "timed.mov"
    make_clip(clip, video_codec="libx264", audio_codec="aac")
    artwork = load_artwork(LOGO)
    plan = plan_overlay([frames_rgb(clip)[0]], artwork, options=OverlayOptions(corner="bottom-right", width_px=64))
    result = overlay_video(clip, out, plan=plan, timing=Timing(start_s=0.2, end_s=1.0, fade_s=0.2))
    assert result.frames_out == FRAMES and result.frames_with_logo == sum(0.2 < i / FPS < 1.0 for i in range(FRAMES))
    x, y, w, h = plan.placement.xywh
    solid = plan.logo.rgba[:, :, 3] == 255
    originals, branded = frames_rgb(clip), frames_rgb(out)
    distance = [
        np.abs(b[y : y + h, x : x + w][solid].astype(int) - o[y : y + h, x : x + w][solid]).mean()
        for o, b in zip(originals, branded, strict=True)
    ]
    assert max(distance[:5]) < 8 and max(distance[26:]) < 8  # before 0.2 s and from 1.0 s: no logo (codec noise)
    assert distance[6] < distance[8] < distance[12] and distance[12] > 40  # fading in, then fully there


def test_yuv_round_trip_is_within_one_level() -> None:
    rgb = np.random.default_rng(0).integers(16, 240, (8, 8, 3), dtype=np.uint8)
    for kr, kb in ((0.2126, 0.0722), (0.299, 0.114)):
        for full in (False, True):
            y, u, v = rgb_to_yuv(rgb, kr=kr, kb=kb, full=full)
            back = yuv_to_rgb(*(np.clip(p, 0, 255).astype(np.uint8) for p in (y, u, v)), kr=kr, kb=kb, full=full)
            assert np.abs(back.astype(int) - rgb).max() <= 2


def test_webm_cannot_hold_aac_audio_unchanged(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    make_clip(clip, video_codec="libx264", audio_codec="aac", frames=3)
    plan = plan_overlay([frames_rgb(clip)[0]], load_artwork(LOGO), options=OverlayOptions(width_px=32))
    with pytest.raises(OptionError, match="webm holds only Opus/Vorbis"):
        overlay_video(clip, tmp_path / "out.webm", plan=plan)
