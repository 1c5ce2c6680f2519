"""Type aliases, JSON shapes and the check result shared by the attestation modules.

``CheckResult`` lives here, beside the types it is reported with, so that the
error module can carry results without importing the runner that makes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias, TypedDict

__all__ = ["CheckResult", "Claims", "JSONObject", "JSONValue", "LogRowJSON"]

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


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check."""

    name: str
    """Stable dotted name of the check, e.g. ``header.alg``."""
    ok: bool
    """Whether the check held."""
    expected: str
    """What the check required, rendered for people."""
    actual: str
    """What the check found, rendered for people."""
