"""SEV-SNP hostdata from a confidential-container (CCE) policy.

The host places SHA-256 of the policy's Rego text, exactly as the container
group carries it, into the SEV-SNP report as HOST_DATA; MAA reports it as
``x-ms-sevsnpvm-hostdata``.  In an ARM template the policy travels as
``properties.confidentialComputeProperties.ccePolicy``, the *standard base64*
of that text.  The hostdata is the hash of the decoded text, never of the
base64 string, and no newline or encoding normalisation happens: the bytes are
hashed as they are.

A policy is accepted in three forms (``PolicyFormat``)::

    rego     the Rego text itself; every byte of the file is hashed
    base64   the ccePolicy value: one line of standard base64 (surrounding
             whitespace, such as a final newline, is ignored)
    arm      an ARM template with exactly one
             Microsoft.ContainerInstance/containerGroups resource holding a
             literal ccePolicy

``auto`` picks ``arm`` when the file starts with ``{``, ``base64`` when the
whole file is one line of base64 (a Rego policy never is: ``package policy``
has a space), and ``rego`` otherwise; a file of several base64-only lines is
refused rather than guessed at.

>>> hostdata_of_rego(b"package policy\\n")[:16]
'89d09cb5c2f579af'
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from attestation._base64 import b64_decode
from attestation._json import parse_object
from attestation.errors import InputError

__all__ = [
    "CONTAINER_GROUP_TYPE",
    "Hostdata",
    "PolicyFormat",
    "hostdata_of_file",
    "hostdata_of_rego",
    "policy_text",
]

logger = logging.getLogger(__name__)

CONTAINER_GROUP_TYPE = "Microsoft.ContainerInstance/containerGroups"
"""The ARM resource type that carries a ccePolicy."""

_BASE64_FILE = re.compile(rb"\s*[A-Za-z0-9+/]+={0,2}\s*")
_BASE64_LINES = re.compile(rb"[A-Za-z0-9+/=]+(?:\r?\n[A-Za-z0-9+/=]+)+\s*")


class PolicyFormat(StrEnum):
    """How a policy file is written."""

    AUTO = "auto"
    REGO = "rego"
    BASE64 = "base64"
    ARM = "arm"


@dataclass(frozen=True, slots=True)
class Hostdata:
    """The hostdata of a policy and the form the policy was read from."""

    hex: str
    format: PolicyFormat


def hostdata_of_rego(rego: bytes) -> str:
    """Return the hostdata (lowercase hex SHA-256) of the Rego text ``rego``."""
    return hashlib.sha256(rego).hexdigest()


def _detect(data: bytes) -> PolicyFormat:
    if data.lstrip().startswith(b"{"):
        return PolicyFormat.ARM
    if _BASE64_FILE.fullmatch(data) is not None:
        return PolicyFormat.BASE64
    if _BASE64_LINES.fullmatch(data) is not None:
        # NOTE: guessing wrong here would print a wrong hostdata without error.
        raise InputError("file looks like wrapped base64; join its lines or pass a format")
    return PolicyFormat.REGO


def _decode_cce_policy(value: str) -> bytes:
    try:
        return b64_decode(value)
    except ValueError as exc:
        raise InputError(f"ccePolicy is not standard base64 ({exc})") from exc


def _from_arm(data: bytes) -> bytes:
    try:
        template = parse_object(data)
    except ValueError as exc:
        raise InputError(f"ARM template: {exc}") from exc
    resources = template.get("resources")
    if not isinstance(resources, list):
        raise InputError("ARM template has no 'resources' list")
    policies: list[str] = []
    for resource in resources:
        if not isinstance(resource, dict):
            continue
        kind = resource.get("type")
        if not isinstance(kind, str) or kind.casefold() != CONTAINER_GROUP_TYPE.casefold():
            continue
        props = resource.get("properties")
        cc = props.get("confidentialComputeProperties") if isinstance(props, dict) else None
        policy = cc.get("ccePolicy") if isinstance(cc, dict) else None
        if not isinstance(policy, str):
            raise InputError("a container group in the ARM template has no literal ccePolicy")
        policies.append(policy)
    if len(policies) != 1:
        raise InputError(
            f"ARM template must hold exactly one {CONTAINER_GROUP_TYPE} resource, "
            f"found {len(policies)}"
        )
    return _decode_cce_policy(policies[0])


def policy_text(data: bytes, fmt: PolicyFormat) -> tuple[bytes, PolicyFormat]:
    """Return the Rego text held by ``data`` and the format it was read as.

    Raises:
        InputError: ``data`` is not a policy in format ``fmt``.
    """
    chosen = _detect(data) if fmt is PolicyFormat.AUTO else fmt
    if chosen is PolicyFormat.REGO:
        return data, chosen
    if chosen is PolicyFormat.BASE64:
        try:
            text = data.decode("ascii").strip()
        except UnicodeDecodeError as exc:
            raise InputError("ccePolicy file is not ASCII base64") from exc
        return _decode_cce_policy(text), chosen
    return _from_arm(data), chosen


def hostdata_of_file(path: Path, fmt: PolicyFormat = PolicyFormat.AUTO) -> Hostdata:
    """Compute the hostdata of the policy in ``path``.

    Raises:
        InputError: the file is unreadable or not a policy in format ``fmt``.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read policy {path}: {exc.strerror}") from exc
    rego, chosen = policy_text(data, fmt)
    logger.debug("hostdata computed from a %s policy", chosen.value)
    return Hostdata(hostdata_of_rego(rego), chosen)
