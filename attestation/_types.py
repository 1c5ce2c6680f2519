"""Type aliases and JSON shapes shared by the attestation modules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias, TypedDict

__all__ = ["Claims", "JSONObject", "JSONValue", "LogRowJSON"]

JSONValue: TypeAlias = "None | bool | int | float | str | list[JSONValue] | dict[str, JSONValue]"
"""Any value a strict JSON parser can produce."""

JSONObject: TypeAlias = "dict[str, JSONValue]"
"""A parsed JSON object."""

Claims: TypeAlias = "Mapping[str, JSONValue]"
"""The claims of a token: a read-only JSON object."""


class _LogRowRequired(TypedDict):
    cce_hostdata: str
    cosign_identity: str
    deployed_at: str
    environment: str
    git_sha: str
    image_digest: str
    kek: str
    maa_endpoint: str
    run_url: str


class LogRowJSON(_LogRowRequired, total=False):
    """One measurement-log row as it is stored (all members are strings)."""

    cce_policy: str
