"""Where ``tap`` finds the server's data: the same folder ``make run`` uses.

``make run`` starts the server in the project folder, so its embedded Postgres
and generated key live in ``<project>/data`` unless ``TAP_DATA_DIR`` says
otherwise. The CLI finds that folder from anywhere:

1. ``TAP_DATA_DIR``, if set (a relative path is taken from the current folder,
   as the server would);
2. else ``data`` in the nearest folder, from the current one upwards, whose
   ``pyproject.toml`` names the project ``tap-proxy``;
3. else ``data`` in the source checkout this ``tap`` was installed from
   (an editable install), found the same way from the package's own file.

NOTE: finding a folder never creates one. Whether a database may be created
there is decided by the caller (only ``tap init`` may).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

PROJECT_NAME: Final = "tap-proxy"
DATA_FOLDER: Final = "data"
AUDIT_FILE: Final = "audit.jsonl"


@dataclass(frozen=True, slots=True)
class DataLocation:
    """The data folder and, for messages, how it was found."""

    data_dir: Path
    source: str
    """``TAP_DATA_DIR`` or ``the project at <path>``; one phrase for error lines."""
    project: Path | None


def is_project(folder: Path) -> bool:
    """True if ``folder/pyproject.toml`` declares the ``tap-proxy`` project."""
    try:
        with (folder / "pyproject.toml").open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        return False
    project = data.get("project")
    return isinstance(project, dict) and project.get("name") == PROJECT_NAME


def find_project(start: Path) -> Path | None:
    """The nearest ``tap-proxy`` project folder at or above ``start``, or None."""
    for folder in (start, *start.parents):
        if is_project(folder):
            return folder
    return None


def installed_checkout() -> Path | None:
    """The source checkout this package runs from (an editable install), or None."""
    return find_project(Path(__file__).resolve().parent)


def locate(environ: Mapping[str, str], cwd: Path) -> DataLocation | None:
    """Where the data folder is, or None when neither the setting nor a project says."""
    explicit = environ.get("TAP_DATA_DIR", "").strip()
    project = find_project(cwd) or installed_checkout()
    if explicit:
        return DataLocation(data_dir=cwd / explicit, source="TAP_DATA_DIR", project=project)
    if project is None:
        return None
    return DataLocation(
        data_dir=project / DATA_FOLDER, source=f"the project at {project}", project=project
    )
