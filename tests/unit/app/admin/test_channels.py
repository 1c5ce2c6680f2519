from __future__ import annotations

import pytest

from app.admin.channels import check_config
from app.errors import ValidationFailed


@pytest.mark.parametrize(
    ("kind", "config", "stored"),
    [
        ("dashboard", {}, {}),
        ("telegram", {"chat_id": " -100 "}, {"chat_id": "-100"}),
        ("matrix", {"room_id": "!abc:hs.example"}, {"room_id": "!abc:hs.example"}),
        (
            "matrix",
            {"room_id": "!a:hs", "homeserver_url": "https://hs.example"},
            {"room_id": "!a:hs", "homeserver_url": "https://hs.example"},
        ),
    ],
)
def test_valid_configs(kind: str, config: dict[str, str], stored: dict[str, str]) -> None:
    assert check_config(kind, config) == stored


@pytest.mark.parametrize(
    ("kind", "config"),
    [
        ("agent_reflected", {"x": "y"}),
        ("telegram", {}),
        ("telegram", {"chat_id": "1", "access_token": "t"}),
        ("matrix", {"room_id": "#alias:hs"}),
        ("matrix", {"room_id": "!a:hs", "homeserver_url": "ftp://hs"}),
    ],
)
def test_invalid_configs(kind: str, config: dict[str, str]) -> None:
    with pytest.raises(ValidationFailed):
        check_config(kind, config)
