"""``make bench``, brand part: logo overlay throughput on 10-second clips at 720p and 1080p, side by side.

Each clip is a real photo panned and zoomed over 300 frames at 30 fps with a stereo AAC track, encoded once
(x264 ``veryfast``); each row runs in a fresh process (``--one``) so its peak RSS is its own. A 5-second clip at
720p shows whether memory stays flat with the clip's length. Real time = frames per second >= the clip's rate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from refbench.brand.artwork import load_artwork
from refbench.brand.overlay import OverlayOptions, plan_overlay
from refbench.brand.video import VideoEncoding, overlay_video, sample_frames
from refbench.ingest import load_image_rgb
from refbench.pipelines.bench_scale import peak_rss_mb
from refbench.settings import Settings
from refbench.types import Metric

CLIPS = (("720p", (1280, 720), 10.0), ("1080p", (1920, 1080), 10.0), ("720p-5s", (1280, 720), 5.0))
FPS = 30


@dataclass(frozen=True)
class OverlayBench:
    """One measured overlay of a clip."""

    label: str
    width: int
    height: int
    frames: int
    seconds: float
    frames_per_second: float
    realtime_factor: float  # frames per second / the clip's rate
    cpu_seconds: float
    peak_rss_mb: float


def make_bench_clip(path: Path, *, size: tuple[int, int], seconds: float, photo: Path) -> Path:
    """A photo panned and zoomed over ``seconds`` at 30 fps, with a stereo 440 Hz AAC track."""
    import av

    image = Image.fromarray(load_image_rgb(photo))
    frames = round(seconds * FPS)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = *size, "yuv420p"
        video.options = {"preset": "veryfast", "crf": "20"}
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "stereo"
        for index in range(frames):
            zoom = 1.0 - 0.3 * index / frames
            w, h = round(image.width * zoom), round(image.width * zoom * size[1] / size[0])
            left = round((image.width - w) * index / frames)
            crop = image.crop((left, 0, left + w, min(image.height, h))).resize(size, Image.Resampling.BILINEAR)
            frame = av.VideoFrame.from_ndarray(np.asarray(crop), format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode())
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(int(48000 * seconds)) / 48000)).astype(np.float32)
        for start in range(0, len(tone), 1024):
            chunk = tone[start : start + 1024]
            block = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]).reshape(1, -1), format="flt", layout="stereo")
            block.sample_rate, block.pts = 48000, start
            out.mux(audio.encode(block))
        out.mux(audio.encode())
    return path


def measure_overlay(clip: Path, logo: Path, *, label: str) -> OverlayBench:
    """Overlay ``logo`` (auto corner on calm alone, 15% wide) on ``clip``; wall, CPU and peak memory."""
    start, cpu = time.perf_counter(), time.process_time()
    frames = sample_frames(clip)
    plan = plan_overlay(frames, load_artwork(logo), options=OverlayOptions())
    with tempfile.TemporaryDirectory(prefix="refbench-bench-overlay-") as tmp:
        result = overlay_video(clip, Path(tmp) / "out.mp4", plan=plan, encoding=VideoEncoding())
    seconds = time.perf_counter() - start
    height, width = frames[0].shape[:2]
    fps = result.frames_out / seconds
    return OverlayBench(
        label,
        width,
        height,
        result.frames_out,
        seconds,
        fps,
        fps / FPS,
        time.process_time() - cpu,
        peak_rss_mb(),
    )


def run_overlay_benchmark(*, settings: Settings) -> list[OverlayBench]:
    """Every clip of ``CLIPS``, each overlaid in a fresh process."""
    samples = settings.data_dir / "samples"
    photo, logo = samples / "photos" / "bus.jpg", samples / "logos" / "numpy.png"
    results = []
    with tempfile.TemporaryDirectory(prefix="refbench-bench-clips-") as tmp:
        for label, size, seconds in CLIPS:
            clip = make_bench_clip(Path(tmp) / f"{label}.mp4", size=size, seconds=seconds, photo=photo)
            command = [sys.executable, "-m", "refbench.pipelines.brand_bench", "--one", str(clip), str(logo), label]
            answer = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            results.append(OverlayBench(**json.loads(answer)))
    return results


def overlay_metrics(results: list[OverlayBench]) -> list[Metric]:
    """Bench metrics, one label per clip."""
    return [
        metric
        for r in results
        for metric in (
            Metric("overlay_frames_per_second", r.frames_per_second, "frames/s", r.frames, r.label),
            Metric("overlay_realtime_factor", r.realtime_factor, "x", r.frames, r.label),
            Metric("overlay_peak_rss", r.peak_rss_mb, "MB", r.frames, r.label),
        )
    ]


def overlay_report(results: list[OverlayBench]) -> str:
    """Markdown section of bench.md."""
    lines = [
        "## Logo overlay on video",
        "",
        "`refbench overlay` on clips of a panned photo with AAC audio, 30 fps, H.264 out (x264 veryfast, CRF 18),"
        " auto corner from 6 sampled frames; one fresh process per row. Real time: >= 1.0x.",
        "",
        f"Frames per CPU-second counts every thread of the process: the throughput the work itself allows, whatever"
        f" else the shared cores were doing (load average when written: {os.getloadavg()[0]:.1f} on"
        f" {os.cpu_count()} cores).",
        "",
        "| clip | size | frames | seconds | frames/s | x real time | CPU s | frames per CPU-s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.label} | {r.width}x{r.height} | {r.frames} | {r.seconds:.1f} | {r.frames_per_second:.1f} |"
        f" {r.realtime_factor:.2f} | {r.cpu_seconds:.1f} | {r.frames / r.cpu_seconds:.1f} | {r.peak_rss_mb:.0f} |"
        for r in results
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    """``--one CLIP LOGO LABEL`` measures one overlay and prints it as JSON."""
    clip, logo, label = argv[1:4]
    print(json.dumps(asdict(measure_overlay(Path(clip), Path(logo), label=label))))


if __name__ == "__main__":
    main(sys.argv[1:])
