"""``/dashboard``: one static shell and its own modules, every response under a strict policy.

Nothing on the page comes from another origin, no script or style is inline,
the page cannot be framed, and only files that ship under
``static/dashboard/`` can be fetched.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.admin_api import Api

STATIC = Path(__file__).resolve().parents[3] / "app" / "dashboard" / "static"
DASHBOARD = STATIC / "dashboard"
SCRIPTS = sorted([*DASHBOARD.rglob("*.js"), STATIC / "approve.js"])


def _policy(header: str) -> dict[str, str]:
    return {
        part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else ""
        for part in (p.strip() for p in header.split(";"))
        if part
    }


def _assert_hardened(headers: dict[str, str]) -> None:
    csp = _policy(headers["content-security-policy"])
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["connect-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["base-uri"] == "'none'"
    assert "unsafe" not in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


async def test_a_browser_at_the_root_is_sent_to_the_dashboard(api: Api) -> None:
    reply = await api.call("GET", "/", headers={"Accept": "text/html"})
    assert reply.status == 303 and reply.headers["location"].endswith("/dashboard")


async def test_the_shell_is_hardened_and_not_cached(api: Api) -> None:
    reply = await api.call("GET", "/dashboard")
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/html")
    _assert_hardened(reply.headers)
    # The address may carry a one-time invite token: never keep the page.
    assert reply.headers["cache-control"] == "no-store"


async def test_every_file_the_shell_loads_is_ours_and_hardened(api: Api) -> None:
    page = str((await api.call("GET", "/dashboard")).body)
    assert "<script>" not in page and "<style" not in page and " style=" not in page
    assert not re.search(r"\son[a-z]+=", page), "no inline event handlers"
    references = re.findall(r'(?:src|href)="(/[^"]*)"', page)
    assert "/dashboard/assets/app.js" in references
    for reference in references:
        assert not reference.startswith("//"), reference
        if not reference.startswith("/dashboard/assets/"):
            continue
        reply = await api.call("GET", reference)
        assert reply.status == 200, reference
        _assert_hardened(reply.headers)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
async def test_every_module_is_served_with_a_script_type(api: Api, script: Path) -> None:
    if script.parent == STATIC:
        path = f"/approve/assets/{script.name}"
    else:
        path = "/dashboard/assets/" + script.relative_to(DASHBOARD).as_posix()
    reply = await api.call("GET", path)
    assert reply.status == 200, path
    assert reply.headers["content-type"].startswith("text/javascript")
    _assert_hardened(reply.headers)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_module_turns_text_into_markup(script: Path) -> None:
    # NOTE: the XSS defence besides the CSP: text is only ever set as text.
    source = script.read_text()
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
    ):
        assert sink not in source, f"{script.name} uses {sink}"
    assert "localStorage.setItem" not in source, "the session lives in sessionStorage only"


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/assets/index.html",
        "/dashboard/assets/../approve.html",
        "/dashboard/assets/%2e%2e/approve.html",
        "/dashboard/assets/..%2fapprove.js",
        "/dashboard/assets/swagger-ui/LICENSE",
        "/dashboard/assets/nope.js",
        "/dashboard/assets/lib",
    ],
)
async def test_only_shipped_assets_can_be_fetched(api: Api, path: str) -> None:
    reply = await api.call("GET", path)
    assert reply.status == 404, path
    assert reply.body["error"] == "not_found"
