"""The WebAuthn relying party: every ceremony's options and verification, through py_webauthn.

NOTE: user verification is *required* in every ceremony (registration, login,
approval, step-up): a passkey proves a person, not just a device in reach.
Errors of the library are translated here, once, into
:class:`~app.errors.PasskeyVerificationFailed`; its messages never reach a
client (they may quote what the client sent).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from app.config import Config
from app.errors import PasskeyVerificationFailed
from app.store.passkeys import Passkey

logger = logging.getLogger(__name__)

RP_NAME: Final = "TAP"
CEREMONY_TIMEOUT_MS: Final = 120_000
_TRANSPORTS: Final = {t.value: t for t in AuthenticatorTransport}


@dataclass(frozen=True, slots=True)
class NewPasskey:
    """A verified registration, ready to store."""

    credential_id: str
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Assertion:
    """A verified assertion, with the exact bytes that were signed (the evidence)."""

    credential_id: str
    new_sign_count: int
    authenticator_data: bytes
    client_data_json: bytes
    signature: bytes


def credential_id_of(credential: dict[str, Any]) -> str:
    """The ``id`` member of a PublicKeyCredential JSON. Raises PasskeyVerificationFailed."""
    value = credential.get("id")
    if not isinstance(value, str) or not value:
        raise PasskeyVerificationFailed("the passkey response names no credential")
    return value


@dataclass(frozen=True, slots=True)
class RelyingParty:
    rp_id: str
    origins: tuple[str, ...]
    """The RP origin first, then WEBAUTHN_ADDITIONAL_ORIGINS; every ceremony accepts each."""

    @classmethod
    def from_config(cls, config: Config) -> RelyingParty | None:
        """The relying party, or None unless WebAuthn is fully configured.

        Passkeys need an RP ID, its origin, and a URL to send people to (the
        approve page): ``TAP_APP_URL`` or ``TAP_APPROVAL_BASE_URL``.
        """
        if (
            config.webauthn_rp_id is None
            or config.webauthn_rp_origin is None
            or (config.app_url is None and config.approval_base_url is None)
        ):
            return None
        origins = (config.webauthn_rp_origin.rstrip("/"),) + tuple(
            o.rstrip("/") for o in config.webauthn_additional_origins
        )
        return cls(rp_id=config.webauthn_rp_id, origins=tuple(dict.fromkeys(origins)))

    # Registration ---------------------------------------------------------------

    def registration_options(
        self, *, user_id: str, email: str, display_name: str, existing: Sequence[Passkey]
    ) -> tuple[dict[str, Any], bytes]:
        """Creation options (JSON-ready) excluding ``existing``, and the challenge to keep."""
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=RP_NAME,
            user_id=user_id.encode(),
            user_name=email,
            user_display_name=display_name,
            timeout=CEREMONY_TIMEOUT_MS,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[_descriptor(p) for p in existing],
        )
        return json.loads(options_to_json(options)), options.challenge

    def verify_registration(self, credential: dict[str, Any], challenge: bytes) -> NewPasskey:
        """Raises PasskeyVerificationFailed."""
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=list(self.origins),
                require_user_verification=True,
            )
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            logger.info("passkey registration refused: %s", type(exc).__name__)
            raise PasskeyVerificationFailed("the passkey registration did not verify") from None
        transports = (credential.get("response") or {}).get("transports") or []
        return NewPasskey(
            credential_id=bytes_to_base64url(verified.credential_id),
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=tuple(t for t in transports if isinstance(t, str) and t in _TRANSPORTS),
        )

    # Assertions (login, approval, step-up) ------------------------------------

    def assertion_options(
        self, allowed: Sequence[Passkey], challenge: bytes | None = None
    ) -> tuple[dict[str, Any], bytes]:
        """Request options limited to ``allowed`` passkeys, and the challenge to keep.

        ``challenge`` None draws a random one; an approval passes the digest of
        its canonical request.
        """
        options = generate_authentication_options(
            rp_id=self.rp_id,
            challenge=challenge,
            timeout=CEREMONY_TIMEOUT_MS,
            allow_credentials=[_descriptor(p) for p in allowed],
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return json.loads(options_to_json(options)), options.challenge

    def verify_assertion(
        self, credential: dict[str, Any], *, challenge: bytes, passkey: Passkey
    ) -> Assertion:
        """Check ``credential`` against ``challenge`` and the stored ``passkey``.

        The library refuses a sign count that did not grow (a cloned
        authenticator) unless both counts are zero. Raises
        PasskeyVerificationFailed.
        """
        try:
            parsed = parse_authentication_credential_json(credential)
            verified = verify_authentication_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=list(self.origins),
                credential_public_key=passkey.public_key,
                credential_current_sign_count=passkey.sign_count,
                require_user_verification=True,
            )
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            logger.info("passkey assertion refused for %s: %s", passkey.id, type(exc).__name__)
            raise PasskeyVerificationFailed("the passkey response did not verify") from None
        if bytes_to_base64url(verified.credential_id) != passkey.id:
            raise PasskeyVerificationFailed("the passkey response names another credential")
        return Assertion(
            credential_id=passkey.id,
            new_sign_count=verified.new_sign_count,
            authenticator_data=parsed.response.authenticator_data,
            client_data_json=parsed.response.client_data_json,
            signature=parsed.response.signature,
        )


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(passkey.id),
        transports=[_TRANSPORTS[t] for t in passkey.transports if t in _TRANSPORTS] or None,
    )
