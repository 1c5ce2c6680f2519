"""Factories for model objects with safe defaults that a test overrides."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from app.store.models import Credential

_NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def make_credential(**overrides: Any) -> Credential:
    base = Credential(
        team_id="t1",
        name="stripe",
        description="",
        auth_type="api-key",
        connector="direct",
        api_base=None,
        relative_target=False,
        auth_header_format=None,
        auth_bindings=(),
        allowed_hosts=(),
        allow_http=False,
        sealed_value=b"x",
        key_version=1,
        value_hint=None,
        created_at=_NOW,
        updated_at=_NOW,
    )
    return replace(base, **overrides)
