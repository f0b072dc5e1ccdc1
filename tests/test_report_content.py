"""What the manifest report shows: contact-sheet captions that fit their tile and name every character a photo
shows, one compact identities figure, and an asset table with thumbnails and descriptions."""

from __future__ import annotations

import pytest
from PIL import ImageFont
from refbench.assets.crops import fit_lines
from refbench.pipelines.manifest import sheet_caption
from refbench.pipelines.read import WorkspaceReader
from refbench.settings import Settings
from refbench.workbench import report

FONT = ImageFont.load_default(size=13)


@pytest.mark.parametrize(
    ("text", "max_lines", "lines"),
    [
        ("CHAR_04 CHAR_05 VEH_01", 2, ["CHAR_04 CHAR_05 VEH_01"]),
        ("ANIM_01 ENV_03 VEH_02 VEH_03 PROP_01 PROP_02 PROP_03 PROP_04", 2, None),
        ("a_file_name_so_long_that_no_tile_can_hold_it_whole.jpg", 1, None),
        ("", 2, []),
    ],
)
def test_captions_fit_the_tile(text: str, max_lines: int, lines: list[str] | None) -> None:
    """The old sheet cut captions at 34 characters, ~250 px at 13 px, and ran into the next 220 px tile."""
    got = fit_lines(text, FONT, width=212, max_lines=max_lines)
    assert len(got) <= max_lines and all(FONT.getlength(line) <= 212 for line in got)
    if lines is not None:
        assert got == lines
    else:
        assert got[-1].endswith("…") and text.startswith(got[0].removesuffix("…"))


@pytest.mark.parametrize(
    ("tags", "faces_of", "caption"),
    [
        ([], ["CHAR_01"], "face of CHAR_01"),
        (["PROP_06"], ["CHAR_13"], "PROP_06 · face of CHAR_13"),
        (["CHAR_02"], [], "CHAR_02"),
        ([], [], "no asset"),
    ],
)
def test_sheet_caption(tags: list[str], faces_of: list[str], caption: str) -> None:
    assert sheet_caption(tags, faces_of) == caption


def test_a_portrait_of_a_character_shown_elsewhere_is_no_longer_no_asset(demo_workspace: Settings) -> None:
    reader = WorkspaceReader(demo_workspace.database)
    images = {row.file_name: row for row in reader.read(lambda ws: ws.images.sheet_rows())}
    assets = reader.read(lambda ws: ws.assets.list())
    obama = next(a.tag for a in assets.of_type("character") if a.source_image_file == images_of(images, "obama"))
    for name in ("obama_2.jpg", "obama_3.jpg", "obama_4.jpg"):
        assert obama in images[name].faces_of.split(), (name, images[name])
    assert obama not in images[images_of(images, "obama")].faces_of.split()  # its own photo lists it as its asset


def images_of(images: dict, person: str) -> str:
    """The photo of ``person`` that became the character asset (the one whose tags hold a CHAR)."""
    return next(
        n for n, e in images.items() if n.startswith(person) and any(t.startswith("CHAR") for t in e.tags.split())
    )


def test_identities_are_one_figure_and_assets_carry_thumbnails(demo_workspace: Settings) -> None:
    reader = WorkspaceReader(demo_workspace.database)
    figure = report.identity_galleries(reader, face_model="insightface", max_faces=4)
    titles = [axes.get_title() for axes in figure.axes if axes.get_title()]
    characters = reader.read(lambda ws: ws.assets.list()).of_type("character")
    assert len(titles) == len(characters) and all(t.split(" · ")[0] in {c.tag for c in characters} for t in titles)
    head, *rows = report.asset_rows(reader)
    assert head[-1] == "description" and len(rows) == len(reader.read(lambda ws: ws.assets.list()))
    assert all(str(row[0]).startswith('<img src="data:image/jpeg;base64,') for row in rows)
