"""Rotation tests use the SoftHSM2 token fixture of the HSM custody suite."""

from __future__ import annotations

from tests.enclave.hsm.conftest import softhsm

__all__ = ["softhsm"]
