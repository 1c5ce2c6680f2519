"""Per-address sign-in throttles behind a reverse proxy, against a real tap-proxy.

Every request reaches TAP from 127.0.0.1 (the "nginx" here, trusted through
TAP_TRUSTED_PROXIES) with the client in X-Forwarded-For, as deploy/nginx.conf
sends it. Before the fix every client shared the proxy's bucket.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.admin_api import PASSWORD, RemoteApi, resend_env
from tests.support.fake_resend import FakeResend
from tests.support.tap import start_tap


async def _login(api: RemoteApi, email: str, password: str, address: str) -> int:
    reply = await api.call(
        "POST", "/login", json={"email": email, "password": password}, address=address
    )
    return reply.status


async def test_one_address_failing_logins_does_not_block_others(remote: RemoteApi) -> None:
    await remote.signup("acme", "ann@example.com")
    for i in range(50):
        assert await _login(remote, f"u{i}@example.com", "guess-pw", "203.0.113.66") == 401
    assert await _login(remote, "ann@example.com", PASSWORD, "203.0.113.66") == 429
    # Everyone else behind the same nginx signs in as usual.
    assert await _login(remote, "ann@example.com", PASSWORD, "198.51.100.7") == 200


async def test_guessing_one_account_does_not_lock_its_owner_out(remote: RemoteApi) -> None:
    await remote.signup("acme", "ann@example.com")
    for i in range(10):
        assert await _login(remote, "ann@example.com", f"guess-{i}", "203.0.113.66") == 401
    assert await _login(remote, "ann@example.com", PASSWORD, "203.0.113.66") == 429
    assert await _login(remote, "ann@example.com", PASSWORD, "198.51.100.7") == 200


async def test_client_chosen_forwarded_entries_are_not_fresh_addresses(remote: RemoteApi) -> None:
    await remote.signup("acme", "ann@example.com")
    for i in range(10):
        # The client writes its own X-Forwarded-For; nginx appends the real address.
        forged = f"10.{i}.0.1, 203.0.113.66"
        assert await _login(remote, "ann@example.com", f"guess-{i}", forged) == 401
    assert await _login(remote, "ann@example.com", PASSWORD, "10.99.0.1, 203.0.113.66") == 429


async def test_code_guesses_from_one_address_do_not_block_others(remote: RemoteApi) -> None:
    for i in range(20):
        reply = await remote.call(
            "POST",
            "/verify-email",
            json={"email": f"u{i}@example.com", "code": "000000"},
            address="203.0.113.66",
        )
        assert reply.status == 400, reply.body
    blocked = await remote.call(
        "POST",
        "/reset-password",
        json={"email": "x@example.com", "code": "000000", "password": PASSWORD},
        address="203.0.113.66",
    )
    assert blocked.status == 429
    # The signup below verifies its code from another address.
    await remote.signup("acme", "ann@example.com")


async def test_without_trusted_proxies_forwarded_for_is_ignored(
    tmp_path: Path, database_url: str
) -> None:
    resend = FakeResend().start()
    tap = start_tap(tmp_path, database_url, **resend_env(resend))
    try:
        api = RemoteApi(tap.url, resend)
        await api.signup("acme", "ann@example.com")
        for i in range(10):
            # A fresh X-Forwarded-For per guess buys nothing: the socket peer is the client.
            assert await _login(api, "ann@example.com", f"guess-{i}", f"10.{i}.0.1") == 401
        assert await _login(api, "ann@example.com", PASSWORD, "10.99.0.1") == 429
    finally:
        assert tap.proxy.stop() == 0, tap.proxy.log()
        resend.stop()
