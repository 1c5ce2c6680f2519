"""The docs match the tree: the self-hosting guide exists and covers every
setting, the README links it, and the agent headers are documented."""

from __future__ import annotations

import re
from pathlib import Path

from app.proxy.headers import SUPPORTED

from .test_deploy_files import COMPOSE_ENV, DOCUMENTED_ENV

REPO = Path(__file__).resolve().parents[3]
README = (REPO / "README.md").read_text(encoding="utf-8")
GUIDE = (REPO / "docs" / "self-hosting.md").read_text(encoding="utf-8")


def test_every_mention_of_the_self_hosting_guide_links_it() -> None:
    mentions = re.findall(r"(\[?)self-hosting guide(\]\(([^)#]+)[^)]*\))?", README, re.I)
    assert mentions
    assert all(link == "docs/self-hosting.md" for _, _, link in mentions), mentions


def test_the_guide_covers_every_setting() -> None:
    missing = sorted(n for n in DOCUMENTED_ENV | COMPOSE_ENV if f"`{n}`" not in GUIDE)
    assert missing == []


def test_the_guide_has_the_compose_steps_and_the_checklist() -> None:
    for fragment in (
        "cp local.env.example .env",
        "chown 10001:10001 data-compose",
        "docker compose up --build",
        "docker-compose.local.yaml up --build",
        "## Production checklist",
    ):
        assert fragment in GUIDE, fragment


def test_every_relative_link_in_the_readme_and_guide_resolves() -> None:
    for base, text in ((REPO, README), (REPO / "docs", GUIDE)):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (base / target).exists(), target


def test_every_tap_header_is_documented_in_the_readme() -> None:
    table = {m.lower() for m in re.findall(r"^\| `(X-TAP-[A-Za-z-]+)` \|", README, re.M)}
    assert table == set(SUPPORTED)


def test_the_readme_says_make_test_builds_images() -> None:
    section = README[: README.index("## What TAP does")]
    assert "buildah" in section and "minutes" in section
