"""Which push endpoints a browser may register."""

from __future__ import annotations

import pytest

from app.channels.push.endpoints import check_endpoint
from app.errors import InvalidSubscription


@pytest.mark.parametrize(
    "endpoint",
    [
        # Public https services.
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://updates.push.services.mozilla.com/wpush/v2/abc",
        "https://93.184.216.34/push",
    ],
)
def test_public_https_is_accepted(endpoint: str) -> None:
    assert check_endpoint(endpoint, allow_private=False) == endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        # Not https, or no usable host.
        "http://push.example.com/x",
        "ftp://push.example.com/x",
        "https:///x",
        "https://user:pw@push.example.com/x",
        "https://push.example.com:99999/x",
        # Internal addresses and names.
        "https://localhost/x",
        "https://app.localhost/x",
        "https://127.0.0.1/x",
        "https://[::1]/x",
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::ffff:127.0.0.1]/x",
        "https://push.example.com/" + "x" * 3000,
    ],
)
def test_the_rest_is_refused(endpoint: str) -> None:
    with pytest.raises(InvalidSubscription):
        check_endpoint(endpoint, allow_private=False)


def test_the_dangerous_switch_allows_http_on_loopback_only() -> None:
    assert check_endpoint("http://127.0.0.1:9/push/x", allow_private=True)
    assert check_endpoint("https://10.0.0.1/x", allow_private=True)
    with pytest.raises(InvalidSubscription):
        check_endpoint("http://push.example.com/x", allow_private=True)
