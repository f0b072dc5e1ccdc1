"""``refbench`` command line: one module per area, all attached to ``refbench.cli.app.app``."""

from refbench.cli import brand as _brand  # noqa: F401 - registers commands
from refbench.cli import clean as _clean  # noqa: F401 - registers commands
from refbench.cli import curation as _curation  # noqa: F401 - registers commands
from refbench.cli import describe as _describe  # noqa: F401 - registers commands
from refbench.cli import faces as _faces  # noqa: F401 - registers commands
from refbench.cli import identity as _identity  # noqa: F401 - registers commands
from refbench.cli import lab as _lab  # noqa: F401 - registers commands
from refbench.cli import library as _library  # noqa: F401 - registers commands
from refbench.cli import manifest as _manifest  # noqa: F401 - registers commands
from refbench.cli import plan as _plan  # noqa: F401 - registers commands
from refbench.cli import runs as _runs  # noqa: F401 - registers commands
from refbench.cli.app import app, run_cli

main = run_cli
__all__ = ["app", "main"]
