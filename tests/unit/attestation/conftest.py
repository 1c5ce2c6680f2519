"""Fixtures for the attestation unit tests; they live in :mod:`tests.support.attestation`."""

from __future__ import annotations

from tests.support.attestation import (  # noqa: F401 (fixtures are found by name)
    _clean_environment,
    attacker_key,
    loopback_tls,
    signing_key,
    tls_client,
)
