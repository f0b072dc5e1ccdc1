"""Logo overlay on video with PyAV (FFmpeg inside its wheel; nothing is downloaded at run time).

Every frame is decoded, the logo composited, and the frame encoded again with its own timestamp, so frame
count, frame rate and duration stay the same; every audio stream is copied packet for packet (its bytes are
never decoded). Frames stream one at a time: memory does not grow with the clip's length.

For 8-bit 4:2:0 frames (almost every mp4/mov/webm) only the logo's box is touched, in a copy of the YUV planes:
the box is converted to RGB with the frame's own matrix (BT.709 or BT.601, limited or full range), composited
exactly as on images, and written back where the logo covers a pixel — luma outside the logo and chroma outside
its 2x2 blocks are the decoder's own values. Other pixel formats go through a whole-frame RGB conversion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from refbench.brand.composite import blend_srgb, effective_alpha
from refbench.brand.overlay import OverlayPlan
from refbench.errors import InputError, OptionError

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".mkv")
# Encoder per output container; audio is copied, so the container must accept the input's audio codec.
ENCODERS = {".mp4": "libx264", ".mov": "libx264", ".m4v": "libx264", ".mkv": "libx264", ".webm": "libvpx-vp9"}
WEBM_AUDIO = ("opus", "vorbis")
FAST_FORMATS = ("yuv420p", "yuvj420p")
# (Kr, Kb) of the luma equation per colour matrix; FFmpeg's AVColorSpace numbers.
BT709, BT601 = (0.2126, 0.0722), (0.299, 0.114)
MATRICES = {1: BT709, 5: BT601, 6: BT601, 4: (0.30, 0.11), 7: (0.212, 0.087)}
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class VideoInfo:
    """What a clip holds: its video stream's size, rate, frames and duration, and its audio streams."""

    width: int
    height: int
    fps: float
    frames: int  # counted by the container; 0 when it does not say (webm)
    duration_s: float
    video_codec: str
    pix_fmt: str
    audio: tuple[str, ...] = ()  # codec of each audio stream

    @property
    def expected_frames(self) -> int:
        """Frames to expect: the container's count, else duration x rate."""
        return self.frames or round(self.duration_s * self.fps)


@dataclass(frozen=True)
class VideoEncoding:
    """How frames are encoded again: constant-quality level and speed preset (x264 names; VP9 maps them)."""

    crf: int = 18  # visually lossless for x264; 0-51
    preset: str = "veryfast"  # x264 presets trade speed for size at the same quality
    threads: int = 0  # 0: the encoder's own choice (all cores)

    def options(self, codec: str) -> dict[str, str]:
        """Encoder options for ``codec``."""
        if codec == "libvpx-vp9":  # realtime VP9: x264's slow presets would take minutes per second of 1080p
            return {
                "crf": str(min(63, self.crf + 13)),
                "b": "0",
                "deadline": "realtime",
                "cpu-used": "8",
                "row-mt": "1",
            }
        return {"crf": str(self.crf), "preset": self.preset}


@dataclass(frozen=True)
class Timing:
    """When the logo shows: from ``start_s`` to ``end_s`` (``None``: the end), fading in and out over ``fade_s``."""

    start_s: float = 0.0
    end_s: float | None = None
    fade_s: float = 0.0

    def __post_init__(self) -> None:
        if self.start_s < 0 or self.fade_s < 0 or (self.end_s is not None and self.end_s <= self.start_s):
            raise OptionError(f"need 0 <= start < end and fade >= 0 (start {self.start_s}, end {self.end_s})")

    def level(self, t: float, *, duration_s: float) -> float:
        """The logo's opacity factor in [0, 1] at ``t`` seconds."""
        if t < self.start_s or (self.end_s is not None and t >= self.end_s):
            return 0.0
        if self.fade_s == 0:
            return 1.0
        end = self.end_s if self.end_s is not None else duration_s
        return max(0.0, min(1.0, (t - self.start_s) / self.fade_s, (end - t) / self.fade_s))


@dataclass
class VideoResult:
    """What an overlay wrote: frames in and out, frames that show the logo, audio packets copied."""

    frames_in: int = 0
    frames_out: int = 0
    frames_with_logo: int = 0
    audio_packets: int = 0
    path: str = ""
    codec: str = ""
    dropped_streams: list[str] = field(default_factory=list)


def probe_video(path: Path) -> VideoInfo:
    """Facts of a clip's first video stream and its audio streams.

    Raises:
        InputError: not a video FFmpeg can read, or no video stream.
    """
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path}: no video stream")
            stream = container.streams.video[0]
            duration = (
                float(stream.duration * stream.time_base) if stream.duration else (container.duration or 0) / 1_000_000
            )
            return VideoInfo(
                width=stream.codec_context.width,
                height=stream.codec_context.height,
                fps=float(stream.average_rate or stream.guessed_rate or 0),
                frames=stream.frames,
                duration_s=duration,
                video_codec=stream.codec_context.name,
                pix_fmt=stream.codec_context.pix_fmt or "",
                audio=tuple(a.codec_context.name for a in container.streams.audio),
            )
    except av.FFmpegError as error:
        raise InputError(f"{path}: cannot read the video: {error}") from error


def sample_frames(path: Path, *, count: int = 6, start_s: float = 0.0, end_s: float | None = None) -> list[np.ndarray]:
    """``count`` RGB frames evenly spread over [start, end) (seeking, not decoding the whole clip)."""
    import av

    info = probe_video(path)
    end = min(end_s if end_s is not None else info.duration_s, info.duration_s)
    times = [start_s + (end - start_s) * (i + 0.5) / count for i in range(count)]
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for t in times:
            container.seek(int(t / stream.time_base), stream=stream, backward=True)
            frame = next((f for f in container.decode(stream) if f.time is None or f.time >= t - 1e-3), None)
            if frame is not None:
                frames.append(frame.to_ndarray(format="rgb24"))
    if not frames:
        raise InputError(f"{path}: no frame could be decoded")
    return frames


class YuvRegion:
    """The logo's box grown to whole 2x2 chroma blocks, with the logo's colour and alpha padded into it."""

    def __init__(self, plan: OverlayPlan, *, frame_wh: tuple[int, int]) -> None:
        x, y, w, h = plan.placement.xywh
        self.x0, self.y0 = x - x % 2, y - y % 2
        self.x1, self.y1 = min(frame_wh[0], x + w + (x + w) % 2), min(frame_wh[1], y + h + (y + h) % 2)
        shape = (self.y1 - self.y0, self.x1 - self.x0)
        self.logo_rgb = np.zeros((*shape, 3), np.uint8)
        self.alpha = np.zeros(shape, np.uint8)
        self.logo_rgb[y - self.y0 : y - self.y0 + h, x - self.x0 : x - self.x0 + w] = plan.logo.rgba[:, :, :3]
        self.alpha[y - self.y0 : y - self.y0 + h, x - self.x0 : x - self.x0 + w] = plan.logo.rgba[:, :, 3]

    def composite(self, planes: list[np.ndarray], *, opacity: float, kr: float, kb: float, full: bool) -> None:
        """Composite the logo into 4:2:0 ``planes`` (Y, U, V uint8 arrays), in place."""
        alpha = effective_alpha(self.alpha, opacity)
        if not alpha.any():
            return
        cy, cx = slice(self.y0, self.y1), slice(self.x0, self.x1)
        hy, hx = slice(self.y0 // 2, (self.y1 + 1) // 2), slice(self.x0 // 2, (self.x1 + 1) // 2)
        luma = planes[0][cy, cx]
        chroma = [_upsample(p[hy, hx], luma.shape) for p in planes[1:]]
        mixed = blend_srgb(self.logo_rgb, yuv_to_rgb(luma, *chroma, kr=kr, kb=kb, full=full), alpha)
        y_new, u_new, v_new = rgb_to_yuv(mixed, kr=kr, kb=kb, full=full)
        covered = alpha > 0
        luma[covered] = np.clip(y_new, 0, 255).astype(np.uint8)[covered]
        blocks = _blocks_any(covered)
        for plane, new in ((planes[1], u_new), (planes[2], v_new)):
            target = plane[hy, hx]
            target[blocks] = _block_mean(new, target.shape)[blocks]


def _upsample(chroma: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A subsampled chroma block repeated 2x2, cut to ``shape``."""
    return np.repeat(np.repeat(chroma, 2, axis=0), 2, axis=1)[: shape[0], : shape[1]]


def frame_matrix(frame) -> tuple[float, float, bool]:  # noqa: ANN001 - av.VideoFrame
    """(Kr, Kb, full range) of a frame: its tagged matrix, else BT.709 from 720 lines up and BT.601 below."""
    kr, kb = MATRICES.get(int(frame.colorspace or 0), BT709 if frame.height >= 720 else BT601)
    return kr, kb, frame.format.name == "yuvj420p" or int(frame.color_range or 0) == 2


def yuv_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, *, kr: float, kb: float, full: bool) -> np.ndarray:
    """8-bit Y'CbCr (same-size planes) to 8-bit R'G'B' (h, w, 3)."""
    scale_y, scale_c, offset = (255.0, 255.0, 0.0) if full else (219.0, 224.0, 16.0)
    luma = (y.astype(np.float32) - offset) / scale_y
    cb, cr = (u.astype(np.float32) - 128.0) / scale_c, (v.astype(np.float32) - 128.0) / scale_c
    red = luma + 2.0 * (1.0 - kr) * cr
    blue = luma + 2.0 * (1.0 - kb) * cb
    green = (luma - kr * red - kb * blue) / (1.0 - kr - kb)
    return np.clip(np.stack([red, green, blue], axis=2) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def rgb_to_yuv(rgb: np.ndarray, *, kr: float, kb: float, full: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8-bit R'G'B' (h, w, 3) to float32 Y', Cb, Cr planes in code values (chroma not yet subsampled)."""
    scale_y, scale_c, offset = (255.0, 255.0, 0.0) if full else (219.0, 224.0, 16.0)
    r, g, b = (rgb[:, :, i].astype(np.float32) / 255.0 for i in range(3))
    luma = kr * r + (1.0 - kr - kb) * g + kb * b
    cb, cr = (b - luma) / (2.0 * (1.0 - kb)), (r - luma) / (2.0 * (1.0 - kr))
    return luma * scale_y + offset + 0.5, cb * scale_c + 128.5, cr * scale_c + 128.5


def _i420_planes(i420: np.ndarray, width: int, height: int) -> list[np.ndarray]:
    """Writable Y (h, w), U and V (ceil(h/2), ceil(w/2)) views of an I420 array."""
    flat = i420.reshape(-1)
    cw, ch = (width + 1) // 2, (height + 1) // 2
    luma = flat[: width * height].reshape(height, width)
    u = flat[width * height : width * height + cw * ch].reshape(ch, cw)
    v = flat[width * height + cw * ch : width * height + 2 * cw * ch].reshape(ch, cw)
    return [luma, u, v]


def _blocks_any(mask: np.ndarray) -> np.ndarray:
    """(ceil(h/2), ceil(w/2)) bool: whether any pixel of each 2x2 block is set."""
    h, w = mask.shape
    padded = np.zeros((h + h % 2, w + w % 2), bool)
    padded[:h, :w] = mask
    return padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2).any(axis=(1, 3))


def _block_mean(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """2x2 means of float ``values`` as uint8 of ``shape`` (edge blocks of odd sizes average what they have)."""
    h, w = values.shape
    padded = np.pad(values, ((0, h % 2), (0, w % 2)), mode="edge")
    means = padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2).mean(axis=(1, 3))
    return np.clip(np.floor(means), 0, 255).astype(np.uint8)[: shape[0], : shape[1]]


def overlay_video(
    source: Path,
    out: Path,
    *,
    plan: OverlayPlan,
    opacity: float = 1.0,
    timing: Timing = Timing(),  # noqa: B008 - frozen value
    encoding: VideoEncoding = VideoEncoding(),  # noqa: B008 - frozen value
    progress: Progress | None = None,
) -> VideoResult:
    """Write ``out`` (mp4/mov/m4v/mkv: H.264; webm: VP9): ``source`` with the logo on every frame in its interval.

    Raises:
        OptionError: an output container that cannot hold the input's audio unchanged.
        InputError: an unreadable source.
    """
    import av

    info = probe_video(source)
    codec = ENCODERS.get(out.suffix.lower())
    if codec is None:
        raise OptionError(f"{out.name}: video output must end in one of {', '.join(ENCODERS)}")
    if out.suffix.lower() == ".webm" and any(a not in WEBM_AUDIO for a in info.audio):
        raise OptionError(
            f"{out.name}: webm holds only Opus/Vorbis audio, the clip has {', '.join(info.audio)}: use .mp4/.mov"
        )
    result = VideoResult(path=str(out), codec=codec)
    with av.open(str(source)) as inp, av.open(str(out), "w") as output:
        vin = inp.streams.video[0]
        vout = _video_stream(output, vin, codec=codec, encoding=encoding)
        audio = {s.index: output.add_stream_from_template(s) for s in inp.streams.audio}
        result.dropped_streams = [f"{s.type} #{s.index}" for s in inp.streams if s.type not in ("video", "audio")]
        region = YuvRegion(plan, frame_wh=(info.width, info.height))
        for packet in inp.demux(vin, *inp.streams.audio):
            if packet.stream.type == "audio":
                if packet.dts is not None:
                    packet.stream = audio[packet.stream.index]
                    output.mux(packet)
                    result.audio_packets += 1
                continue
            for frame in packet.decode():
                result.frames_in += 1
                frame = _with_logo(
                    frame,
                    region,
                    plan,
                    level=opacity * timing.level(frame.time or 0.0, duration_s=info.duration_s),
                    result=result,
                )
                packets = vout.encode(frame)
                result.frames_out += len(packets)
                output.mux(packets)
                if progress is not None:
                    progress(result.frames_in, info.expected_frames)
        packets = vout.encode()
        result.frames_out += len(packets)
        output.mux(packets)
    return result


def _video_stream(output, vin, *, codec: str, encoding: VideoEncoding):  # noqa: ANN001, ANN202 - av objects
    """The output video stream: same size, rate, time base and colour tags as the input."""
    vout = output.add_stream(codec, rate=vin.average_rate or vin.guessed_rate or Fraction(30))
    context = vout.codec_context
    context.width, context.height = vin.codec_context.width, vin.codec_context.height
    context.pix_fmt = vin.codec_context.pix_fmt if vin.codec_context.pix_fmt in FAST_FORMATS else "yuv420p"
    vout.time_base = vin.time_base
    context.thread_count = encoding.threads
    context.options = encoding.options(codec)
    for name in ("color_range", "colorspace", "color_primaries", "color_trc"):
        value = getattr(vin.codec_context, name, None)
        if value:
            setattr(context, name, value)
    return vout


def _with_logo(frame, region: YuvRegion, plan: OverlayPlan, *, level: float, result: VideoResult):  # noqa: ANN001, ANN202
    """``frame`` with the logo at opacity ``level`` (in place for 4:2:0 frames, through RGB otherwise)."""
    import av

    frame.pict_type = av.video.frame.PictureType.NONE  # let the encoder choose frame types again
    if level <= 0.0:
        return frame
    result.frames_with_logo += 1
    if frame.format.name in FAST_FORMATS:
        # A copy: the decoder keeps this frame's buffer as a reference picture for the frames that follow.
        kr, kb, full = frame_matrix(frame)
        i420 = frame.to_ndarray()  # (h * 3/2, w): Y, then U, then V
        region.composite(_i420_planes(i420, frame.width, frame.height), opacity=level, kr=kr, kb=kb, full=full)
        copy = av.VideoFrame.from_ndarray(i420, format=frame.format.name)
        copy.pts, copy.time_base = frame.pts, frame.time_base
        copy.colorspace, copy.color_range = frame.colorspace, frame.color_range
        return copy
    rgb = frame.to_ndarray(format="rgb24")
    x, y, w, h = plan.placement.xywh
    alpha = effective_alpha(plan.logo.rgba[:, :, 3], level)
    rgb[y : y + h, x : x + w] = blend_srgb(plan.logo.rgba[:, :, :3], rgb[y : y + h, x : x + w], alpha)
    converted = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    converted.pts, converted.time_base = frame.pts, frame.time_base
    return converted
