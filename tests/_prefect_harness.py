"""One Prefect test harness per pytest session, shared by every test module that asks for it.

A harness starts a temporary Prefect server (~20 s): modules share one instead of nesting several.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

from prefect.testing.utilities import prefect_test_harness

_stack: ExitStack | None = None
_users = 0


def shared_harness() -> Iterator[None]:
    """Generator body of a session fixture: start the harness on first use, stop it after the last."""
    global _stack, _users
    if _stack is None:
        _stack = ExitStack()
        _stack.enter_context(prefect_test_harness(server_startup_timeout=120))
    _users += 1
    try:
        yield
    finally:
        _users -= 1
        if _users == 0:
            _stack.close()
            _stack = None
