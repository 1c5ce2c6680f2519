"""Verify what a TAP instance runs, without trusting its operator.

This package checks the chain of custody of a confidential TAP deployment:
Microsoft Azure Attestation tokens (``verify_token``), the SEV-SNP hostdata of
a confidential-container policy (``hostdata_of_file``), Key Vault key release
policies (``evaluate_release_policy``), the append-only measurement log
(``verify_log``, ``append_row``) and a running instance end to end
(``verify_instance``), including the runtime data an instance attests
(``runtime_data``: its nonce, TLS key hash ``spki_sha256`` and build).  The ``tap-attest`` command is a thin layer over it.

Every verify function returns what it verified or raises
:class:`VerificationError`; none returns a boolean.  The package depends on
nothing else in TAP.
"""

from __future__ import annotations

from attestation._checks import CheckResult, CheckRunner, Report
from attestation._endpoint import Origin
from attestation._hostdata import Hostdata, PolicyFormat, hostdata_of_file, hostdata_of_rego
from attestation._http import open_client
from attestation._instance import InstanceVerdict, verify_instance
from attestation._maa_token import (
    CLOCK_LEEWAY_SECS,
    VerifiedToken,
    verify_signed_token,
    verify_token,
)
from attestation._measurement_log import LogRow, MeasurementLog, append_row, verify_log
from attestation._release_policy import PolicyDecision, ReleasePolicy, evaluate_release_policy
from attestation._runtime_data import DEK_ORIGINS, runtime_data, spki_sha256
from attestation._signing_keys import SigningKeys, fetch_signing_keys, load_signing_keys
from attestation.errors import (
    AttestationError,
    CannotVerifyError,
    FetchError,
    InputError,
    VerificationError,
)

__all__ = [
    "AttestationError",
    "CLOCK_LEEWAY_SECS",
    "CannotVerifyError",
    "CheckResult",
    "CheckRunner",
    "DEK_ORIGINS",
    "FetchError",
    "Hostdata",
    "InputError",
    "InstanceVerdict",
    "LogRow",
    "MeasurementLog",
    "Origin",
    "PolicyDecision",
    "PolicyFormat",
    "ReleasePolicy",
    "Report",
    "SigningKeys",
    "VerificationError",
    "VerifiedToken",
    "append_row",
    "evaluate_release_policy",
    "fetch_signing_keys",
    "hostdata_of_file",
    "hostdata_of_rego",
    "load_signing_keys",
    "open_client",
    "runtime_data",
    "spki_sha256",
    "verify_instance",
    "verify_log",
    "verify_signed_token",
    "verify_token",
]
