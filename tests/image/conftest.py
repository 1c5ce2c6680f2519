"""Load the build scripts in ``image/`` (plain scripts, not a package)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE_DIR = REPO / "image"


def load(name: str) -> ModuleType:
    """Import ``image/<name>.py`` the way the scripts import each other."""
    if str(IMAGE_DIR) not in sys.path:
        sys.path.insert(0, str(IMAGE_DIR))
    return importlib.import_module(name)


@pytest.fixture(scope="session")
def image_scripts() -> dict[str, ModuleType]:
    """The ``image/`` modules, by name."""
    return {name: load(name) for name in ("oci", "lock", "build", "verify", "local_base")}
