from __future__ import annotations

import pytest

from app.errors import OAuthRefreshFailed
from app.oauth2 import backoff
from app.oauth2.backoff import RefreshBackoff

KEY = ("team", "svc")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(backoff.time, "monotonic", clock)
    return clock


def _refused() -> OAuthRefreshFailed:
    return OAuthRefreshFailed(
        "refused (invalid_grant).", credential="svc", oauth_error="invalid_grant"
    )


def test_the_same_value_is_refused_again_until_the_delay_passes(clock: Clock) -> None:
    state = RefreshBackoff()
    state.failed(KEY, b"v1", _refused())

    with pytest.raises(OAuthRefreshFailed) as raised:
        state.check(KEY, b"v1")
    assert raised.value.extra == {
        "credential": "svc",
        "oauth_error": "invalid_grant",
        "retry_after_secs": 10,
    }
    clock.now += backoff.FIRST_DELAY_SECS
    state.check(KEY, b"v1")  # the endpoint may be asked again


def test_each_further_failure_doubles_the_delay_up_to_the_cap(clock: Clock) -> None:
    state = RefreshBackoff()
    delays = []
    for _ in range(8):
        state.failed(KEY, b"v1", _refused())
        with pytest.raises(OAuthRefreshFailed) as raised:
            state.check(KEY, b"v1")
        delays.append(raised.value.extra["retry_after_secs"])
    assert delays == [10, 20, 40, 80, 160, 300, 300, 300]


def test_a_new_value_or_a_success_ends_it(clock: Clock) -> None:
    state = RefreshBackoff()
    state.failed(KEY, b"v1", _refused())
    state.check(KEY, b"v2")  # re-authorized: ask at once
    state.check(("team", "other"), b"v1")
    state.failed(KEY, b"v2", _refused())
    with pytest.raises(OAuthRefreshFailed) as raised:
        state.check(KEY, b"v2")
    assert raised.value.extra["retry_after_secs"] == 10, "a new value starts the count again"
    state.succeeded(KEY)
    state.check(KEY, b"v2")
