"""One exception hierarchy for the whole project (CONVENTIONS.md 6).

Every error refbench raises on purpose derives from ``RefbenchError``; the CLI prints such errors as one
line. Each class says what went wrong in a way a caller can catch: a missing input is not a locked
workspace, a refused key is not a malformed one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RefbenchError(Exception):
    """Base class of every error refbench raises on purpose."""


# --- settings, options and inputs ---------------------------------------------------------------------------


class ConfigError(RefbenchError):
    """A setting, an option or an input has a value refbench cannot use."""


class OptionError(ConfigError, ValueError):
    """An option is out of range or malformed (e.g. a cosine threshold of 1.5)."""


class InputNotFound(ConfigError, FileNotFoundError):
    """A file or folder given as input does not exist or is not of the expected kind."""


class InputError(ConfigError):
    """An input file exists but cannot be used (no face in a reference image, an undecodable video, ...)."""


class UnknownNameError(OptionError):
    """A name (tag, run, kind, notebook parameter) that is not known; suggests the closest known ones."""

    def __init__(self, what: str, name: str, known: Iterable[str], *, hint: str = "") -> None:
        known = sorted(set(known))
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        close += [k for k in known if k.lower() == name.lower() and k not in close]
        suggestion = f"; did you mean {' or '.join(repr(c) for c in close[:3])}?" if close else ""
        listing = "" if close or len(known) > 12 else f"; known: {', '.join(known) or '(none)'}"
        super().__init__(f"unknown {what} {name!r}{suggestion}{listing}{hint}")
        self.what, self.name, self.known, self.suggestions = what, name, known, close


class UnknownTagError(UnknownNameError):
    """A tag that is no active asset of the workspace."""

    def __init__(self, tag: str, known: Iterable[str]) -> None:
        super().__init__("tag", tag, known, hint="")


class UnknownBackendError(ConfigError, ValueError):
    """A backend registry was asked for a name it does not hold."""

    def __init__(self, kind: str, name: str, available: list[str]) -> None:
        super().__init__(f"No {kind} backend named {name!r}; available: {', '.join(sorted(available))}")
        self.kind, self.name, self.available = kind, name, available


class CalibrationError(ConfigError):
    """Labelled pairs or identities cannot be read or give nothing to measure."""


# --- secrets ------------------------------------------------------------------------------------------------


class ApiKeyError(ConfigError):
    """Something is wrong with the API key; the message never contains the key."""


class ApiKeyMissing(ApiKeyError):
    """No API key in the environment or the secrets file."""


class ApiKeyInvalid(ApiKeyError):
    """The key's form cannot be right (whitespace or control characters inside, wrong length)."""


class ApiKeyRejected(ApiKeyError):
    """A remote API refused the key itself: every further call would fail the same way."""


class SecretsFileError(ApiKeyError):
    """The secrets file is unsafe (inside the repository, writable by others) or unreadable."""


# --- models and data ----------------------------------------------------------------------------------------


class ModelUnavailableError(RefbenchError):
    """A backend cannot run here: its weights, package or runtime are missing."""


class ImageRejected(RefbenchError):
    """An input file cannot be used as an image; ``code`` is a stable machine-readable reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code, self.reason = code, reason


class ShapeError(RefbenchError, ValueError):
    """An array does not have the shape or dtype a stage expects."""


# --- the workspace ------------------------------------------------------------------------------------------


class StoreError(RefbenchError):
    """The DuckDB workspace cannot be used as asked."""


class WorkspaceMissing(StoreError):
    """No workspace database at the path (and the command must not create one)."""


class WorkspaceLocked(StoreError):
    """Another process holds the workspace's write lock (DuckDB allows one writer, or many readers)."""


class WorkspaceCorrupt(StoreError):
    """The file at the workspace path is no DuckDB database, or is damaged."""


class WorkspaceReadOnly(StoreError):
    """The workspace file or its folder cannot be written."""


class SchemaMismatch(StoreError):
    """The workspace's schema is newer than this code, or older and opened read-only."""


# --- stages -------------------------------------------------------------------------------------------------


class ConstraintConflict(RefbenchError):
    """Curation constraints contradict each other (a must-linked group that a cannot-link separates)."""


class CurationError(OptionError):
    """A curation command cannot apply as asked (a face that is not in the tag, merging a tag with itself, ...)."""


class SceneSpecError(ConfigError):
    """A scenes file cannot be used; ``problems`` lists ``scene <id>, field <f>: message`` lines."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


class SelectionError(RefbenchError):
    """A scene's placements cannot satisfy its shot type or its overrides."""


class RequestValidationError(RefbenchError):
    """A generation request failed pre-flight checks; ``failures`` holds the failed checks."""

    def __init__(self, scene_id: str, failures: list) -> None:
        lines = "\n".join(f"  - [{c.name}] {c.message}" for c in failures)
        super().__init__(
            f"scene {scene_id!r}: request refused before sending ({len(failures)} check(s) failed)\n" + lines
        )
        self.scene_id, self.failures = scene_id, failures


class RemoteCallFailed(RefbenchError):
    """A call to a remote API failed on every attempt it was allowed, or ran out of time; ``last`` is the last
    error (its text never holds the API key)."""

    def __init__(self, message: str, *, attempts: int, last: BaseException) -> None:
        super().__init__(message)
        self.attempts, self.last = attempts, last


class GenerationError(RefbenchError):
    """The service refused a generation request, the operation failed, or polling ran out."""


class ImageNotReturned(GenerationError):
    """An image model answered without an image (a safety stop, a blocked prompt, text only); the input tokens it
    billed are kept so a failed attempt still shows its cost."""

    def __init__(self, message: str, *, tokens_in: int = 0, cost_usd: float | None = None) -> None:
        super().__init__(message)
        self.tokens_in, self.cost_usd = tokens_in, cost_usd


class FaceImagesRefused(RefbenchError):
    """A request would carry more face-bearing images than allowed: image models block two faces in one request as
    a face swap, so it is refused before sending unless the caller overrides it; ``roles`` names those images."""

    def __init__(self, message: str, *, roles: list[str]) -> None:
        super().__init__(message)
        self.roles = roles


class ReportError(RefbenchError):
    """A report notebook failed to execute; carries papermill's account of the failing cell."""
