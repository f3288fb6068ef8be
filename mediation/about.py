"""What this installation is: its version, and where its page templates are."""

from __future__ import annotations

from functools import cache
from importlib import metadata
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


@cache
def version() -> str:
    """The installed distribution's version (pyproject.toml's, via the package metadata)."""
    try:
        return metadata.version("mediation")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


def template_folder() -> Path:
    """The Jinja templates: inside the package when installed from the wheel (they ship as
    `mediation/templates`), the repository's top-level `templates/` in a checkout."""
    packaged = PACKAGE / "templates"
    if packaged.is_dir():
        return packaged
    return PACKAGE.parent / "templates"
