"""Tier 2: background removed with rembg's ``u2netp`` and composited on neutral gray #808080."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from refbench.clean import NEUTRAL_GRAY, CleanResult
from refbench.errors import ModelUnavailableError
from refbench.runtime import resolve_providers
from refbench.types import Asset

MODEL_NAME = "u2netp"


class RembgGrayCleaner:
    """Tier 2 cleaner; loads the u2netp session once.

    Args:
        model_dir: The model directory; the weights are ``<model_dir>/u2net/u2netp.onnx``.
        providers: ONNX Runtime providers (``None``: CUDA when present, else CPU).
    """

    name = "rembg-gray"
    tier = 2

    def __init__(self, *, model_dir: Path, providers: list[str] | None = None) -> None:
        weights = Path(model_dir) / "u2net" / f"{MODEL_NAME}.onnx"
        if not weights.is_file():
            raise ModelUnavailableError(f"rembg weights missing: {weights} (run `refbench models pull`)")
        os.environ["U2NET_HOME"] = str(weights.parent)
        # rembg imports pymatting, whose numba kernels compile on first import (~70 s) and are then
        # cached beside pymatting in the environment; `make venv` pays that once.
        import rembg

        self._remove = rembg.remove
        self.session = rembg.new_session(MODEL_NAME, providers=resolve_providers(providers))
        self.execution_provider = self.session.inner_session.get_providers()[0]

    def composite(self, image_rgb: np.ndarray) -> np.ndarray:
        """Foreground of an RGB image (H, W, 3) uint8 on gray; same shape and dtype."""
        cutout = self._remove(Image.fromarray(image_rgb), session=self.session, post_process_mask=True)
        canvas = Image.new("RGBA", cutout.size, (*NEUTRAL_GRAY, 255))
        canvas.alpha_composite(cutout.convert("RGBA"))
        return np.asarray(canvas.convert("RGB"))

    def clean(self, asset: Asset, *, out_dir: Path) -> list[CleanResult]:
        """Write ``<out_dir>/<tag>-tier2.png`` from the asset's crop (read only)."""
        start = time.perf_counter()
        with Image.open(asset.crop_path) as image:
            image_rgb = np.asarray(image.convert("RGB"))
        path = Path(out_dir) / f"{asset.tag}-tier2.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(self.composite(image_rgb)).save(path)
        return [
            CleanResult(
                asset.tag, asset.asset_id, self.tier, self.name, path, cost=time.perf_counter() - start, cost_unit="s"
            )
        ]
