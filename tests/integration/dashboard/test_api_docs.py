"""``/docs``: the API explorer, served by a real tap-proxy from vendored files
under a strict Content-Security-Policy, pointed at TAP's own /openapi.json."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.proxy import ProxyProcess, base_env, start_proxy

STATIC = Path(__file__).resolve().parents[3] / "app" / "dashboard" / "static"
VENDORED = STATIC / "swagger-ui"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, pg_cluster: object) -> Iterator[ProxyProcess]:
    from tests.support.postgres import create_database

    tmp = tmp_path_factory.mktemp("docs")
    running = start_proxy(tmp, base_env(tmp, create_database(pg_cluster)))
    yield running
    running.stop()


def _csp(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {
        part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else ""
        for part in (p.strip() for p in policy.split(";"))
    }


def test_docs_page_is_html_under_a_strict_policy(proxy: ProxyProcess) -> None:
    response = httpx.get(proxy.url + "/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = _csp(response)
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["connect-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert "unsafe" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_page_loads_only_same_origin_files_that_tap_serves(proxy: ProxyProcess) -> None:
    page = httpx.get(proxy.url + "/docs").text
    assert "<script>" not in page and "<style" not in page and " style=" not in page
    references = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert references, page
    expected_types = {".js": "text/javascript", ".css": "text/css", ".json": "application/json"}
    for reference in references:
        assert reference.startswith("/") and not reference.startswith("//"), reference
        response = httpx.get(proxy.url + reference)
        assert response.status_code == 200, reference
        suffix = Path(reference).suffix
        assert response.headers["content-type"].startswith(expected_types[suffix]), reference


def test_the_explorer_renders_taps_own_contract(proxy: ProxyProcess) -> None:
    script = httpx.get(proxy.url + "/docs/assets/docs.js").text
    assert 'url: "/openapi.json"' in script
    assert "queryConfigEnabled: false" in script and "validatorUrl: null" in script
    assert not re.search(r"https?://", script)
    contract = httpx.get(proxy.url + "/openapi.json")
    assert contract.status_code == 200 and contract.json()["openapi"].startswith("3.")


def test_the_licence_is_served_with_the_code(proxy: ProxyProcess) -> None:
    for name in ("LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt"):
        response = httpx.get(proxy.url + f"/docs/assets/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith("text/plain")
    assert "Apache License" in httpx.get(proxy.url + "/docs/assets/LICENSE").text


@pytest.mark.parametrize(
    "path",
    [
        "/docs/assets/nope.js",
        "/docs/assets/..%2Fdocs.html",
        "/docs/assets/VENDORED.md",
        "/docs/assets/swagger-ui%2FLICENSE",
        "/docs/assets/%2e%2e%2f%2e%2e%2fconfig.py",
    ],
)
def test_only_the_listed_assets_can_be_fetched(proxy: ProxyProcess, path: str) -> None:
    response = httpx.get(proxy.url + path)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_vendored_files_are_byte_for_byte_the_recorded_release() -> None:
    notes = (VENDORED / "VENDORED.md").read_text(encoding="utf-8")
    recorded = dict(
        (name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", notes, re.M)
    )
    present = {p.name for p in VENDORED.iterdir()} - {"VENDORED.md"}
    assert set(recorded) == present
    for name, digest in recorded.items():
        assert hashlib.sha256((VENDORED / name).read_bytes()).hexdigest() == digest, name
    assert "| version | 5.35.0 |" in notes and "Apache-2.0" in notes


def test_the_readme_names_the_product_as_instructions_does(proxy: ProxyProcess) -> None:
    readme = (STATIC.parents[2] / "README.md").read_text(encoding="utf-8")
    title = readme.splitlines()[0].removeprefix("# ")
    instructions = httpx.get(proxy.url + "/instructions").text
    assert instructions.splitlines()[0] == title
