"""Scene specs: what each shot shows, validated before any reference is chosen.

A scenes file (YAML or JSON) holds ``scenes: [...]``; every error names the scene and the field
so a user can fix the file without reading a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from refbench.errors import SceneSpecError
from refbench.faces.pose import View

# Detected assets (CHAR, PROP, VEH, ANIM, ENV) and declared ones (`refbench assets add`: LOGO, PROD, PERS, TEX, STYLE).
TAG_PATTERN = r"^(CHAR|PROP|VEH|ANIM|ENV|LOGO|PROD|PERS|TEX|STYLE)_\d{2,}$"
MAX_SCENES_FILE_BYTES = 2_000_000  # a storyboard of thousands of scenes; anything bigger is not a scenes file
MAX_NESTING = 20  # scenes nest 4 levels deep; a deeper document is an attack or a mistake
MAX_PROMPT_CHARS = 4000  # Veo takes up to 1,024 tokens of prompt (~4 characters each)


class ShotType(StrEnum):
    """Camera framing of a scene; each one has its own reference-selection rule."""

    CLOSE_UP = "close_up"
    MEDIUM = "medium"
    TWO_SHOT = "two_shot"
    ESTABLISHING = "establishing"
    ACTION = "action"
    OBJECT_FOCUS = "object_focus"
    WIDE = "wide"


class Role(StrEnum):
    """What an asset does in a scene, in priority order (subject first)."""

    SUBJECT = "subject"
    INTERACTION_TARGET = "interaction_target"
    BACKGROUND = "background"


ROLE_PRIORITY = {Role.SUBJECT: 0, Role.INTERACTION_TARGET: 1, Role.BACKGROUND: 2}


class Placement(BaseModel):
    """One registry asset placed in a scene; a character may ask for one of its views (``profile_left`` for a
    side shot; left and right are the subject's own, see ``refbench.faces.pose``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    asset_tag: str = Field(pattern=TAG_PATTERN)
    role: Role
    view: View | None = None

    @model_validator(mode="after")
    def _view_of_a_character(self) -> Placement:
        if self.view is not None and not self.asset_tag.startswith("CHAR_"):
            raise ValueError(f"view {self.view.value!r}: only characters (CHAR_ tags) have views")
        return self


class SceneSpec(BaseModel):
    """One scene: prompt, framing, placed assets and output format.

    ``pins`` are tags always chosen as references, ``unpins`` tags never chosen (manual overrides); an unpinned
    tag need not be placed (it keeps ``plan --auto`` from placing it).
    ``first_frame``/``last_frame`` are image files for frame interpolation (exclusive with references).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    scene_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    shot_type: ShotType
    placements: list[Placement] = Field(default_factory=list)
    aspect_ratio: str = "16:9"
    duration_seconds: int | None = None
    resolution: str = "720p"
    negative_prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    first_frame: Path | None = None
    last_frame: Path | None = None
    pins: list[str] = Field(default_factory=list)
    unpins: list[str] = Field(default_factory=list)

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt must not be blank")
        return value.strip()

    @field_validator("aspect_ratio")
    @classmethod
    def _aspect(cls, value: str) -> str:
        if value not in ("16:9", "9:16"):
            raise ValueError(f"aspect ratio {value!r} is not one of 16:9, 9:16")
        return value

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, value: str) -> str:
        if value not in ("720p", "1080p", "4k"):
            raise ValueError(f"resolution {value!r} is not one of 720p, 1080p, 4k")
        return value

    @model_validator(mode="after")
    def _overrides_are_placed(self) -> SceneSpec:
        placed = self.tags
        if missing := [t for t in self.pins if t not in placed]:
            raise ValueError(f"pins {missing} are not placed in this scene")
        if both := set(self.pins) & set(self.unpins):
            raise ValueError(f"tags {sorted(both)} are both pinned and unpinned")
        return self

    @property
    def tags(self) -> list[str]:
        """Placed tags, in file order, without repeats."""
        return list(dict.fromkeys(p.asset_tag for p in self.placements))

    @property
    def views(self) -> dict[str, View]:
        """Tag → the view its placement asks for (the first one asked, when a tag is placed twice)."""
        asked: dict[str, View] = {}
        for placement in self.placements:
            if placement.view is not None:
                asked.setdefault(placement.asset_tag, placement.view)
        return asked


def _scene_label(raw: object, index: int) -> str:
    if isinstance(raw, dict) and raw.get("scene_id"):
        return f"scene {raw['scene_id']!r}"
    return f"scene #{index + 1}"


def _format_error(label: str, error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(scene)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "missing (this field is required)"
        elif item["type"] == "enum":
            message = f"{item['input']!r} is not one of {item['ctx']['expected']}"
        problems.append(f"{label}, field {field}: {message}")
    return problems


def parse_scenes(
    data: object,
    *,
    source: str = "scenes",
    known_tags: Iterable[str] | None = None,
    base_dir: Path | None = None,
    registered_images: Mapping[str, Path] | None = None,
) -> list[SceneSpec]:
    """Validate already-parsed scenes data (``{"scenes": [...]}`` or a bare list).

    Args:
        data: The parsed YAML/JSON document.
        source: Name used in error messages (usually the file path).
        known_tags: Active registry tags; placements of other tags are errors. ``None`` skips the check.
        base_dir: Where ``first_frame``/``last_frame`` files may live: relative paths resolve against it, and
            a path that resolves outside it (``../../etc/passwd``, a link out) is refused.
        registered_images: Registered file name → its read-only workspace copy: a frame may also name one.

    Raises:
        SceneSpecError: listing every problem, each naming its scene and field.
    """
    raw_scenes = data.get("scenes") if isinstance(data, dict) else data
    if not isinstance(raw_scenes, list) or not raw_scenes:
        raise SceneSpecError(source, ["the file must hold a non-empty list under 'scenes'"])
    known = set(known_tags) if known_tags is not None else None
    scenes, problems, seen = [], [], set()
    for index, raw in enumerate(raw_scenes):
        label = _scene_label(raw, index)
        try:
            scene = SceneSpec.model_validate(raw)
        except ValidationError as error:
            problems.extend(_format_error(label, error))
            continue
        if scene.scene_id in seen:
            problems.append(f"{label}, field scene_id: duplicate scene id")
        seen.add(scene.scene_id)
        if known is not None:
            problems.extend(
                f"{label}, field placements.{i}.asset_tag: unknown tag {p.asset_tag!r} (not an active "
                "asset of the registry)"
                for i, p in enumerate(scene.placements)
                if p.asset_tag not in known
            )
        updates = {}
        for field in ("first_frame", "last_frame"):
            if (value := getattr(scene, field)) is not None:
                resolved, problem = resolve_frame(value, base_dir=base_dir, registered=registered_images or {})
                updates[field] = resolved
                if problem:
                    problems.append(f"{label}, field {field}: {problem}")
        scenes.append(scene.model_copy(update=updates) if updates else scene)
    if problems:
        raise SceneSpecError(source, problems)
    return scenes


def resolve_frame(value: Path, *, base_dir: Path | None, registered: Mapping[str, Path]) -> tuple[Path, str]:
    """A frame's file and, when it cannot be used, why: it must be a registered image (by file name) or a file
    inside ``base_dir`` (after resolving links and ``..``)."""
    if value.name == str(value) and str(value) in registered:
        return registered[str(value)], ""
    if base_dir is None:
        return value, ""
    root = base_dir.resolve()
    path = (root / value).resolve() if not value.is_absolute() else value.resolve()
    if not path.is_relative_to(root):
        return path, f"{value} is outside the scenes file's folder {root} and is no registered image (refused)"
    if not path.is_file():
        return path, f"no image file at {path}"
    return path, ""


def load_scenes(
    path: Path, *, known_tags: Iterable[str] | None = None, registered_images: Mapping[str, Path] | None = None
) -> list[SceneSpec]:
    """Read and validate a scenes file (``.yaml``/``.yml``/``.json``).

    The file must be UTF-8 text of at most ``MAX_SCENES_FILE_BYTES``; YAML may not repeat a key in a mapping or
    use anchors and aliases, and no document may nest deeper than ``MAX_NESTING``.

    Raises:
        SceneSpecError: the file is unreadable, too large, not text, not YAML/JSON, or any scene is invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise SceneSpecError(str(path), ["no such file"])
    if path.stat().st_size > MAX_SCENES_FILE_BYTES:
        raise SceneSpecError(str(path), [f"the file is over {MAX_SCENES_FILE_BYTES} bytes: not a scenes file"])
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise SceneSpecError(str(path), [f"not UTF-8 text (byte {error.start}): save the file as UTF-8"]) from error
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=_StrictLoader)  # noqa: S506
        _check_depth(data)
    except (json.JSONDecodeError, yaml.YAMLError, RecursionError, _TooDeep) as error:
        kind = path.suffix.lstrip(".") or "YAML"
        reason = f"nested deeper than {MAX_NESTING} levels" if isinstance(error, (RecursionError, _TooDeep)) else error
        raise SceneSpecError(str(path), [f"not valid {kind}: {reason}"]) from error
    return parse_scenes(
        data, source=str(path), known_tags=known_tags, base_dir=path.parent, registered_images=registered_images
    )


class _TooDeep(ValueError):
    pass


def _check_depth(data: object, depth: int = 0) -> None:
    if depth > MAX_NESTING:
        raise _TooDeep
    children = data.values() if isinstance(data, dict) else data if isinstance(data, list) else ()
    for child in children:
        _check_depth(child, depth + 1)


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader that refuses a key twice in one mapping and anchors/aliases (a scenes file needs
    neither, and aliases can blow a few bytes up into a huge document)."""

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if isinstance(self.peek_event(), yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(f"aliases (*{event.anchor}) are not allowed in scenes files{event.start_mark}")
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        keys = [self.construct_object(key, deep=True) for key, _ in node.value]
        repeated = sorted({str(k) for k in keys if keys.count(k) > 1})
        if repeated:
            raise yaml.YAMLError(f"key {repeated[0]!r} appears twice in one mapping{node.start_mark}")
        return super().construct_mapping(node, deep=deep)
