"""Notebook 06 (review and refine): a gallery per identity, select faces, merge / split / rename / set reference.

Every button calls ``refbench.pipelines.curation`` (the same functions as ``refbench identities ...``); the
gallery reads the workspace read-only between actions and redraws after each one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from matplotlib.figure import Figure
from PIL import Image

from refbench.errors import RefbenchError
from refbench.pipelines import curation
from refbench.pipelines.curation import FaceChoice, IdentityCard
from refbench.settings import Settings
from refbench.workbench.tables import jpeg_thumbnail


def load_cards(settings: Settings) -> list[IdentityCard]:
    """The identities of the settings' workspace, faces best first (read-only)."""
    return curation.list_identities(settings)


def identity_rows(cards: Sequence[IdentityCard]) -> list[dict[str, Any]]:
    """One table row per identity: tag, name, faces, photos."""
    return [
        {
            "tag": c.tag,
            "name": c.name + (" (excluded)" if c.excluded else ""),
            "faces": len(c.faces),
            "photos": ", ".join(dict.fromkeys(f.image_file for f in c.faces)),
        }
        for c in cards
    ]


def plot_gallery(cards: Sequence[IdentityCard], *, max_faces: int = 8, thumb_size: int = 96) -> Figure:
    """One row per identity (reference face first), titled with tag, name and quality: a static gallery."""
    rows, columns = max(1, len(cards)), max(1, min(max_faces, max((len(c.faces) for c in cards), default=1)))
    figure = Figure(figsize=(1.6 * columns + 1.6, 1.7 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for line, card in zip(axes, cards, strict=False):
        line[0].set_title(f"{card.tag}: {card.name}"[:28], fontsize=8, loc="left")
        for axis, face in zip(line, card.faces[:max_faces], strict=False):
            with Image.open(face.crop_path) as image:
                thumb = image.convert("RGB")
            thumb.thumbnail((thumb_size, thumb_size))
            axis.imshow(thumb)
            marker = "★ " if face.face_id == card.best_face_id else ""
            axis.text(
                0, -0.08, f"{marker}{face.image_file[:14]} q={face.quality:.2f}", fontsize=6, transform=axis.transAxes
            )
    figure.tight_layout()
    return figure


class CurationGallery:
    """The interactive gallery of notebook 06: face checkboxes per identity and one button per correction.

    Args:
        settings: the workspace (opened briefly per read and per action).
        thumb_size: thumbnail size in pixels.
        max_faces: faces shown per identity.
    """

    def __init__(self, settings: Settings, *, thumb_size: int = 96, max_faces: int = 12) -> None:
        import ipywidgets as widgets

        self.settings, self.thumb_size, self.max_faces = settings, thumb_size, max_faces
        self.cards: list[IdentityCard] = []
        self.selected: dict[str, str] = {}  # face id -> tag, in the order they were ticked
        self.name = widgets.Text(placeholder="name for Rename", description="name")
        self.status = widgets.HTML()
        self.grid = widgets.VBox()
        buttons = [
            self._button("Merge", self.merge_selected, "the identities of the ticked faces join the first one"),
            self._button("Split", self.split_selected, "the ticked faces leave their identity, for good"),
            self._button("Rename", self.rename_selected, "name the identity of the ticked faces"),
            self._button("Set reference", self.reference_selected, "the ticked face shows its identity"),
            self._button("Undo", self.undo, "undo the latest correction"),
        ]
        self.widget = widgets.VBox([widgets.HBox([*buttons, self.name]), self.status, self.grid])
        self.redraw()

    def _button(self, label: str, action: Callable[[], str], tooltip: str) -> Any:
        import ipywidgets as widgets

        button = widgets.Button(description=label, tooltip=tooltip)
        button.on_click(lambda _: self.press(action))
        return button

    def press(self, action: Callable[[], str]) -> str:
        """What a button does: run ``action``, show its message (or why it was refused), redraw."""
        try:
            message = action()
        except RefbenchError as error:  # shown to the user; the registry is left as it was
            message = f"refused: {error}"
        self.status.value = f"<code>{message}</code>"
        self.redraw()
        return message

    def select(self, face_ids: Sequence[str]) -> None:
        """Tick faces (what clicking their checkboxes does)."""
        owner = {f.face_id: c.tag for c in self.cards for f in c.faces}
        self.selected = {face: owner[face] for face in face_ids}

    def _tags(self) -> list[str]:
        return list(dict.fromkeys(self.selected.values()))

    def _one_tag(self, action: str) -> str:
        tags = self._tags()
        if len(tags) != 1:
            raise RefbenchError(f"{action}: tick faces of exactly one identity (ticked: {', '.join(tags) or 'none'})")
        return tags[0]

    def merge_selected(self) -> str:
        """Merge the identities of the ticked faces into the first ticked one."""
        tags = self._tags()
        if len(tags) < 2:
            raise RefbenchError("merge: tick faces of at least two identities")
        return curation.merge_identities(self.settings, tags[0], tags[1:]).message

    def split_selected(self) -> str:
        """Split the ticked faces out of their identity."""
        tag = self._one_tag("split")
        return curation.split_identity(self.settings, tag, choice=FaceChoice(faces=list(self.selected))).message

    def rename_selected(self) -> str:
        """Give the identity of the ticked faces the name typed in the name box."""
        return curation.rename_identity(self.settings, self._one_tag("rename"), self.name.value).message

    def reference_selected(self) -> str:
        """Make the one ticked face its identity's reference."""
        tag = self._one_tag("set reference")
        return curation.set_reference(self.settings, tag, choice=FaceChoice(faces=list(self.selected))).message

    def undo(self) -> str:
        """Undo the latest correction."""
        result = curation.undo(self.settings)
        return result.message if result else "nothing to undo"

    def redraw(self) -> None:
        """Read the identities again and rebuild the grid; ticks are cleared."""
        import ipywidgets as widgets

        self.cards, self.selected = load_cards(self.settings), {}
        rows = []
        for card in self.cards:
            tiles = [self._tile(card, face) for face in card.faces[: self.max_faces]]
            title = widgets.HTML(f"<b>{card.tag}</b> {card.name} · {len(card.faces)} face(s)")
            rows.append(widgets.VBox([title, widgets.HBox(tiles)]))
        self.grid.children = rows

    def _tile(self, card: IdentityCard, face: Any) -> Any:
        import ipywidgets as widgets

        image = widgets.Image(value=jpeg_thumbnail(face.crop_path, size=self.thumb_size), format="jpeg")
        star = "★ " if face.face_id == card.best_face_id else ""
        tick = widgets.Checkbox(description=f"{star}{face.image_file[:16]} {face.quality:.2f}", indent=False)

        def toggle(change: dict) -> None:
            if change["new"]:
                self.selected[face.face_id] = card.tag
            else:
                self.selected.pop(face.face_id, None)

        tick.observe(toggle, names="value")
        return widgets.VBox([image, tick], layout=widgets.Layout(width=f"{self.thumb_size + 40}px"))
