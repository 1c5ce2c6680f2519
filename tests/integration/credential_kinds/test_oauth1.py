"""OAuth 1.0a end to end: ``tap add --auth oauth1`` -> ``/forward`` -> a provider that verifies
the signature with its own RFC 5849 code."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.fake_oauth1 import OAuth1Provider, rsa_pair
from tests.support.tap import Tap
from tests.support.upstream import Upstream

CONSUMER_SECRET = "cs-0123456789abcdefghij"
TOKEN = "1234-tokentokentokentoken"
TOKEN_SECRET = "ts-9876543210zyxwvutsrq"
BEARER = "AAAA-bearer-0123456789abcdef"


def _provider() -> OAuth1Provider:
    return OAuth1Provider(
        consumers={"ck-demo": CONSUMER_SECRET},
        tokens={TOKEN: TOKEN_SECRET},
        bearer_tokens={BEARER},
    )


def _add_with_bearer(add_kind: Callable[..., None]) -> None:
    """Credential ``x``: user-context keys and an app-only bearer token, as X issues them."""
    add_kind(
        "x",
        "oauth1",
        {
            "consumer_secret": CONSUMER_SECRET,
            "access_token": TOKEN,
            "access_token_secret": TOKEN_SECRET,
            "bearer_token": BEARER,
        },
        "--consumer-key",
        "ck-demo",
        "--allowed-host",
        "127.0.0.1",
    )


@pytest.mark.parametrize("method", ["HMAC-SHA1", "HMAC-SHA256"])
def test_reads_and_writes_are_signed_and_verified(
    tap: Tap, add_kind: Callable[..., None], served: Callable[..., Upstream], method: str
) -> None:
    provider = _provider()
    provider.reply_text = f"{CONSUMER_SECRET} {TOKEN_SECRET} {TOKEN}"
    upstream = served(provider.handle)
    add_kind(
        "x",
        "oauth1",
        {
            "consumer_secret": CONSUMER_SECRET,
            "access_token": TOKEN,
            "access_token_secret": TOKEN_SECRET,
        },
        "--consumer-key",
        "ck-demo",
        "--signature-method",
        method,
        "--allowed-host",
        "127.0.0.1",
    )
    tap.ok("policy", "set", "x", "--auto-approve-methods", "GET,POST")
    key = tap.agent("bot", "--credentials", "x")

    read = tap.forward(key, "x", upstream.url + "/1.1/users/show.json?screen_name=a%20b&x=1")
    assert read.status_code == 200, read.text
    write = tap.forward(
        key,
        "x",
        upstream.url + "/1.1/statuses/update.json?include_entities=true",
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "OAuth forged",
        },
        content="status=Hello%20Ladies%20%2b%20Gentlemen%2c%20a%20signed%20OAuth%20request%21",
    )
    assert write.status_code == 200, write.text
    assert provider.refused == []
    assert provider.verified == [("ck-demo", TOKEN, method)] * 2
    service = tap.get("/agent/services", key).json()["services"]["x"]
    assert service["kind"]["name"] == "oauth1" and service["auth_mode"] == "oauth1_signature"
    sent = upstream.received[-1].headers["Authorization"]
    assert sent.startswith("OAuth ") and "forged" not in sent
    for secret in (CONSUMER_SECRET, TOKEN_SECRET):
        assert secret not in sent
    # Every secret field is scrubbed from what the agent reads back.
    for answer in (read, write):
        assert answer.json()["scheme"] == "oauth1"
        for secret in (CONSUMER_SECRET, TOKEN_SECRET, TOKEN):
            assert secret not in answer.text


def test_rsa_sha1(tap: Tap, add_kind: Callable[..., None], served: Callable[..., Upstream]) -> None:
    pem, public = rsa_pair()
    provider = OAuth1Provider(rsa_keys={"ck-rsa": public})
    upstream = served(provider.handle)
    add_kind(
        "rsa",
        "oauth1",
        {"rsa_private_key": pem},
        "--consumer-key",
        "ck-rsa",
        "--signature-method",
        "RSA-SHA1",
        "--allowed-host",
        "127.0.0.1",
    )
    key = tap.agent("bot", "--credentials", "rsa")
    response = tap.forward(key, "rsa", upstream.url + "/photos?file=vacation.jpg&size=original")
    assert response.status_code == 200, response.text
    assert provider.verified == [("ck-rsa", None, "RSA-SHA1")]


def test_auth_mode_picks_bearer_or_oauth1(
    tap: Tap, add_kind: Callable[..., None], served: Callable[..., Upstream]
) -> None:
    provider = _provider()
    upstream = served(provider.handle)
    _add_with_bearer(add_kind)
    add_kind(
        "plain",
        "oauth1",
        {"consumer_secret": CONSUMER_SECRET},
        "--consumer-key",
        "ck-demo",
        "--allowed-host",
        "127.0.0.1",
    )
    key = tap.agent("bot", "--credentials", "x,plain")
    url = upstream.url + "/2/users/me"

    assert tap.forward(key, "x", url).json()["scheme"] == "bearer"  # auto: reads use the bearer
    forced = tap.forward(key, "x", url, headers={"X-TAP-Auth-Mode": "User-Context"})
    assert forced.json()["scheme"] == "oauth1"
    two_legged = tap.forward(key, "plain", url, headers={"X-TAP-Auth-Mode": "oauth1"})
    assert two_legged.status_code == 200 and provider.verified[-1] == ("ck-demo", None, "HMAC-SHA1")

    missing = tap.forward(key, "plain", url, headers={"X-TAP-Auth-Mode": "bearer"})
    assert missing.status_code == 400 and missing.json()["error"] == "auth_mode_unavailable"
    bad = tap.forward(key, "x", url, headers={"X-TAP-Auth-Mode": "kerberos"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_auth_mode"
    assert provider.refused == []


@pytest.mark.parametrize(("asked", "scheme"), [("bearer", "bearer"), ("oauth1", "oauth1")])
def test_an_approved_request_keeps_the_auth_mode_the_agent_asked_for(
    tap: Tap,
    add_kind: Callable[..., None],
    served: Callable[..., Upstream],
    asked: str,
    scheme: str,
) -> None:
    """The mode is part of the request the human approved: replaying it as ``auto`` would
    sign an app-only write with the user's token, or send a user-context read as the app."""
    provider = _provider()
    upstream = served(provider.handle)
    _add_with_bearer(add_kind)
    key = tap.agent("bot", "--credentials", "x")
    # A write waits for a human; auto would sign it with the user's token (oauth1).
    parked = tap.forward(
        key,
        "x",
        upstream.url + "/2/tweets",
        method="POST",
        headers={"X-TAP-Auth-Mode": asked, "Content-Type": "application/json"},
        content=b'{"text": "hi"}',
    )
    assert parked.status_code == 202, parked.text
    tap.ok("approve", parked.json()["txn_id"])
    status = tap.poll(key, parked.json()["poll_url"], {"forwarded", "error"})
    assert status["status"] == "forwarded", status
    assert len(upstream.received) == 1 and provider.refused == []
    sent = upstream.received[0].headers["Authorization"]
    assert sent.startswith("Bearer " if scheme == "bearer" else "OAuth "), sent.split(" ")[0]
