"""One exception hierarchy for the whole project (CONVENTIONS.md 6)."""

from __future__ import annotations


class RefbenchError(Exception):
    """Base class of every error refbench raises on purpose."""


class ConfigError(RefbenchError):
    """A setting or an option has a value refbench cannot use."""


class ApiKeyRejected(ConfigError):
    """A remote API refused the key itself: every further call would fail the same way."""


class ModelUnavailableError(RefbenchError):
    """A backend cannot run here: its weights, package or runtime are missing."""


class UnknownBackendError(RefbenchError, ValueError):
    """A registry was asked for a name it does not hold."""

    def __init__(self, kind: str, name: str, available: list[str]) -> None:
        super().__init__(f"No {kind} backend named {name!r}; available: {', '.join(sorted(available))}")
        self.kind, self.name, self.available = kind, name, available


class ImageRejected(RefbenchError):
    """An input file cannot be used as an image; ``code`` is a stable machine-readable reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code, self.reason = code, reason


class ShapeError(RefbenchError, ValueError):
    """An array does not have the shape or dtype a stage expects."""


class StoreError(RefbenchError):
    """The DuckDB workspace is missing, newer than this code, or inconsistent."""
