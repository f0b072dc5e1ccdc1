"""Tier 1: the registered crop, as-is (no new file: the crop already is a derived copy)."""

from __future__ import annotations

from pathlib import Path

from refbench.clean import CleanResult
from refbench.errors import InputNotFound
from refbench.types import Asset


class OriginalCleaner:
    """Tier 1: reference the asset's crop unchanged."""

    name = "original"
    tier = 1

    def clean(self, asset: Asset, *, out_dir: Path) -> list[CleanResult]:
        """One ok row pointing at ``asset.crop_path``; ``out_dir`` is unused."""
        if not asset.crop_path.is_file():
            raise InputNotFound(f"{asset.tag}: crop file {asset.crop_path} is missing")
        return [CleanResult(asset.tag, asset.asset_id, self.tier, self.name, asset.crop_path, cost=0.0, cost_unit="s")]
