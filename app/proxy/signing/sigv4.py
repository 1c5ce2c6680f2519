"""AWS Signature Version 4, computed by ``botocore``'s signer.

The payload is always hashed and the hash is sent (and signed) as
``X-Amz-Content-SHA256``, so the signature covers the body as well as the
method, the path, the query and the signed headers. S3 gets its own signer
(``S3SigV4Auth``: paths are not normalised or double-encoded there).

Usage::

    key = AwsKey.from_fields({"access_key_id": "AKID...", "secret_access_key": "...",
                              "region": "us-east-1", "service": "s3"})
    added = sign("PUT", "https://bucket.s3.amazonaws.com/k", [("Host", ...)], body, key)
    # [("X-Amz-Content-SHA256", ...), ("X-Amz-Date", ...), ("Authorization", "AWS4-HMAC-SHA256 ...")]

NOTE: ``Authorization`` carries the access key id, the scope and the
signature; the secret key never leaves this module. A session token is sent
as ``X-Amz-Security-Token`` and scrubbed like every secret field.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Final

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

logger = logging.getLogger(__name__)

ADDED_HEADERS: Final = frozenset(
    {"authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"}
)
"""What the signer sets; an agent's copies are dropped, never signed or forwarded."""


@dataclass(frozen=True, slots=True, repr=False)
class AwsKey:
    """The fields of an aws-sigv4 credential (masked in ``repr``)."""

    access_key_id: str
    secret_access_key: str
    region: str
    service: str
    session_token: str | None = None

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> AwsKey:
        """The key held by a validated aws-sigv4 value (:mod:`app.credential_kinds`)."""
        return cls(
            access_key_id=fields["access_key_id"],
            secret_access_key=fields["secret_access_key"],
            region=fields["region"],
            service=fields["service"],
            session_token=fields.get("session_token"),
        )

    def __repr__(self) -> str:
        return f"AwsKey(region={self.region!r}, service={self.service!r}, secrets masked)"


def payload_hash(body: bytes) -> str:
    """Hex SHA-256 of the body (of ``b""`` for none), as SigV4 signs it."""
    return hashlib.sha256(body).hexdigest()


def sign(
    method: str,
    url: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    key: AwsKey,
    *,
    send_payload_hash: bool = True,
) -> list[tuple[str, str]]:
    """The headers that sign this request: every one of ``headers`` is signed, plus
    ``Host`` (from the URL when absent), ``X-Amz-Date``, ``X-Amz-Content-SHA256`` and
    ``X-Amz-Security-Token`` (with a session token).

    ``headers`` must be exactly what is sent for those names; the caller picks
    which headers to cover. The payload hash is always the last line of the
    canonical request; ``send_payload_hash`` also sends it as a header (S3
    requires it; AWS's published test vectors without ``sign_body`` omit it).
    Returns the headers to add, ``Authorization`` last.
    """
    request = AWSRequest(method=method, url=url, data=body)
    for name, value in headers:
        if name.lower() not in ADDED_HEADERS:
            # HTTPHeaders keeps repeats; SigV4 joins them with commas.
            request.headers[name] = value
    if send_payload_hash:
        request.headers["X-Amz-Content-SHA256"] = payload_hash(body)
    # NOTE: S3 may skip hashing the payload over https; TAP always signs it.
    request.context["client_config"] = SimpleNamespace(s3={"payload_signing_enabled": True})
    credentials = Credentials(key.access_key_id, key.secret_access_key, key.session_token)
    signer_class = S3SigV4Auth if key.service == "s3" else SigV4Auth
    signer_class(credentials, key.service, key.region).add_auth(request)
    added = [
        (name, str(request.headers[name]))
        for name in ("X-Amz-Content-SHA256", "X-Amz-Date", "X-Amz-Security-Token")
        if name in request.headers
    ]
    added.append(("Authorization", str(request.headers["Authorization"])))
    logger.debug("sigv4 signature computed for service %s in %s", key.service, key.region)
    return added
