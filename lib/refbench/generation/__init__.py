"""Generation requests: Veo 3.1 video requests with pre-flight checks, image chains, and submission."""

from refbench.generation.veo import (
    CHECKS,
    CheckResult,
    RequestValidationError,
    VeoRequest,
    build_veo_request,
    ensure_valid,
    validate_veo_request,
)

__all__ = [
    "CHECKS",
    "CheckResult",
    "RequestValidationError",
    "VeoRequest",
    "build_veo_request",
    "ensure_valid",
    "validate_veo_request",
]
