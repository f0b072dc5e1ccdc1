"""The logo-detection dev set: logo files that installed packages ship, plus hard negatives (icons, silhouettes).

``assemble_logos`` writes ``data/samples/logos/``: every logo as shipped (SVG rasterised 512 px wide by resvg, alpha
kept) and flattened the way logos travel in documents and e-mails (on white, at most 512 px, JPEG quality 85), and
non-logo graphics (toolbar icons, a silhouette, a checkerboard). Labels live in ``data/samples/logos.csv`` beside
it; the photos and products of the other sample folders are the negatives.
"""

from __future__ import annotations

import importlib.resources
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from refbench.brand.artwork import render_svg, svg_text

DEV_SIDE = 512  # SVGs are drawn, and flattened copies shrunk, to this long side


@dataclass(frozen=True)
class LogoSample:
    """One file of the dev set: its name, where it comes from (``pkg:module:resource`` or ``skimage:function``),
    its brand (logos) and its licence or credit."""

    name: str
    origin: str
    brand: str = ""
    credit: str = ""


def _pkg(name: str, module: str, resource: str, brand: str, credit: str) -> LogoSample:
    return LogoSample(name, f"pkg:{module}:{resource}", brand, credit)


LOGOS: tuple[LogoSample, ...] = (
    _pkg("matplotlib_wordmark.png", "matplotlib", "mpl-data/sample_data/logo2.png", "matplotlib", "PSF-style"),
    _pkg("matplotlib_mark.svg", "matplotlib", "mpl-data/images/matplotlib.svg", "matplotlib", "PSF-style"),
    _pkg("skimage.png", "skimage", "data/logo.png", "scikit-image", "BSD-3-Clause"),
    _pkg(
        "jupyter_transparent.png", "ipywidgets", "widgets/tests/data/jupyter-logo-transparent.png", "jupyter", "BSD-3"
    ),
    _pkg("jupyter_dask.svg", "distributed", "http/static/images/jupyter.svg", "jupyter", "BSD-3-Clause"),
    _pkg("jupyter_wordmark.png", "jupyter_server", "static/logo/logo.png", "jupyter", "BSD-3-Clause"),
    _pkg("python.png", "distributed", "http/static/images/python.png", "python", "PSF trademark, via dask"),
    _pkg("python_64.png", "ipykernel", "resources/logo-64x64.png", "python", "PSF trademark, via ipykernel"),
    _pkg("python_ipykernel.svg", "ipykernel", "resources/logo-svg.svg", "python", "PSF trademark, via ipykernel"),
    _pkg("numpy.png", "distributed", "http/static/images/numpy.png", "numpy", "BSD-3-Clause, via dask"),
    _pkg("pandas.png", "distributed", "http/static/images/pandas.png", "pandas", "BSD-3-Clause, via dask"),
    _pkg("dask.svg", "distributed", "http/static/images/dask-logo.svg", "dask", "BSD-3-Clause"),
    _pkg(
        "prefect_gradient.png", "prefect", "server/api/static/prefect-logo-mark-gradient.png", "prefect", "Apache-2.0"
    ),
    _pkg("prefect_app.png", "prefect", "server/ui-v2/ico/android-chrome-512x512.png", "prefect", "Apache-2.0"),
    _pkg("prefect_pinned.svg", "prefect", "server/ui-v2/ico/safari-pinned-tab.svg", "prefect", "Apache-2.0"),
    _pkg("apprise_wordmark.png", "apprise", "assets/themes/default/apprise-logo.png", "apprise", "BSD-2-Clause"),
    _pkg("apprise_badge.png", "apprise", "assets/themes/default/apprise-info-256x256.png", "apprise", "BSD-2-Clause"),
    _pkg("insightface.png", "insightface", "gui/assets/app_icon.png", "insightface", "MIT"),
)
# Graphics that are not logos: what pixel statistics cannot tell from a logo (reported apart, never hidden).
GRAPHICS: tuple[LogoSample, ...] = (
    *(
        _pkg(f"icon_{icon}.svg", "matplotlib", f"mpl-data/images/{icon}.svg", "", "matplotlib toolbar icon")
        for icon in ("home", "back", "zoom_to_rect", "move", "filesave", "subplots")
    ),
    LogoSample("horse_silhouette.png", "skimage:horse", "", "scikit-image data (public domain)"),
    LogoSample("checkerboard.png", "skimage:checkerboard", "", "scikit-image data (public domain)"),
)


def flattened_name(name: str) -> str:
    """The dev-set name of a logo's flattened copy (on white, JPEG)."""
    return f"{Path(name).stem}_on_white.jpg"


def logo_png_bytes(sample: LogoSample) -> bytes:
    """The sample as PNG bytes: package files as shipped, SVGs drawn ``DEV_SIDE`` px wide, skimage arrays encoded."""
    kind, _, rest = sample.origin.partition(":")
    if kind == "skimage":
        import skimage.data

        array = np.asarray(getattr(skimage.data, rest)())
        return png_bytes(((array > 0) * 255).astype(np.uint8) if array.dtype == bool else array)
    module, resource = rest.split(":", 1)
    data = importlib.resources.files(module).joinpath(resource).read_bytes()
    if resource.endswith(".svg"):
        return png_bytes(render_svg(svg_text(data), width=DEV_SIDE, max_pixels=DEV_SIDE * DEV_SIDE * 4))
    return data


def flattened_jpeg(png: bytes) -> bytes:
    """A logo as it arrives in a document: composited on white, long side at most ``DEV_SIDE``, JPEG quality 85."""
    with Image.open(io.BytesIO(png)) as image:
        rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(white, rgba).convert("RGB")
    flat.thumbnail((DEV_SIDE, DEV_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    flat.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def png_bytes(array: np.ndarray) -> bytes:
    """An image array as PNG file bytes."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def assemble_logos(folder: Path) -> list[Path]:
    """Write the logo dev set into ``folder`` (existing files are kept); returns every file of it."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for sample in (*LOGOS, *GRAPHICS):
        path = folder / (Path(sample.name).stem + ".png")
        if not path.is_file():
            path.write_bytes(logo_png_bytes(sample))
        written.append(path)
        if sample in LOGOS:
            flat = folder / flattened_name(sample.name)
            if not flat.is_file():
                flat.write_bytes(flattened_jpeg(path.read_bytes()))
            written.append(flat)
    return written


def sources_lines() -> list[str]:
    """SOURCES.md lines of the logo dev set."""
    lines = ["", "`logos/` (logo-detection dev set, labels in logos.csv; `*_on_white.jpg`: flattened copies):", ""]
    lines += [f"- {Path(s.name).stem}.png: `{s.origin}` ({s.brand}; {s.credit})" for s in LOGOS]
    lines += [f"- {Path(s.name).stem}.png: `{s.origin}` (not a logo: {s.credit})" for s in GRAPHICS]
    return lines
