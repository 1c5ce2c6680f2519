"""Finding the data folder: TAP_DATA_DIR, else the nearest tap-proxy project, else the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.cli import location
from tools.cli.location import find_project, is_project, locate


def _project(root: Path, name: str = "tap-proxy") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(f'[project]\nname = "{name}"\n')
    return root


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[project]\nname = "tap-proxy"\n', True),
        # Another project, a broken file, no project table: not ours.
        ('[project]\nname = "something-else"\n', False),
        ("[project\nname =", False),
        ('[tool.x]\nname = "tap-proxy"\n', False),
    ],
)
def test_is_project(tmp_path: Path, text: str, expected: bool) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    assert is_project(tmp_path) is expected


def test_the_nearest_project_upwards_wins(tmp_path: Path) -> None:
    outer = _project(tmp_path / "outer")
    inner = _project(outer / "vendor" / "inner")
    _project(outer / "other", name="other")
    assert find_project(inner / "a" / "b") == inner
    assert find_project(outer / "other" / "x") == outer
    assert find_project(tmp_path) != outer


def test_locate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(location, "installed_checkout", lambda: None)
    project = _project(tmp_path / "tap")
    found = locate({}, project / "src")
    assert found is not None
    assert (found.data_dir, found.project) == (project / "data", project)
    assert str(project) in found.source
    explicit = locate({"TAP_DATA_DIR": "rel"}, project / "src")
    assert explicit is not None
    assert (explicit.data_dir, explicit.source) == (project / "src" / "rel", "TAP_DATA_DIR")
    assert locate({}, tmp_path / "elsewhere") is None


def test_the_installed_checkout_is_the_fallback(tmp_path: Path) -> None:
    # This test runs from the source checkout, so the package finds it.
    checkout = location.installed_checkout()
    assert checkout is not None and is_project(checkout)
    found = locate({}, tmp_path)
    assert found is not None and found.data_dir == checkout / "data"
