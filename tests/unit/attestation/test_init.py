"""The public surface of attestation/__init__.py is exact and sorted."""

from __future__ import annotations

import ast
from pathlib import Path

import attestation


def test_all_is_sorted_and_unique() -> None:
    assert attestation.__all__ == sorted(set(attestation.__all__))


def test_all_is_exactly_the_public_names() -> None:
    public = {name for name in vars(attestation) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(attestation, name)).__name__ == "module"}
    assert set(attestation.__all__) == public - modules - {"annotations"}


def test_every_exported_member_has_a_docstring() -> None:
    for name in attestation.__all__:
        member = getattr(attestation, name)
        if callable(member):
            assert member.__doc__, name


def test_package_imports_nothing_else_of_tap() -> None:
    """attestation must stand alone: no import of app, enclave or tools."""
    root = Path(attestation.__file__).parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module is not None:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"app", "enclave", "tools"}, (path.name, name)
