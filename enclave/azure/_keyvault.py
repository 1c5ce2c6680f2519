"""The alternative release path: Key Vault ``release`` called from TAP itself.

Selected with ``TAP_SKR_RELEASE_VIA=keyvault``. The sidecar is used only for
the hardware attestation (``/attest/maa``); TAP calls Key Vault with the
container group's managed identity (azure-identity) through
azure-keyvault-keys, and verifies the signed answer itself, because the SDK
neither verifies nor unwraps it. The steps::

    (1) keyvault.attest    a fresh RSA-2048 wrapping key; an MAA token whose
                           runtime data is {"keys": [its public JWK]}
    (2) keyvault.release   KeyClient.release_key(name, token, version,
                           RSA_AES_KEY_WRAP_256) with the managed identity
    (3) keyvault.jws       the answer is a compact JWS, alg RS256 only,
                           signed by x5c[0]; the x5c chain validates to the
                           trust store for the vault's host name
    (4) keyvault.payload   request.enc is what we asked for; the released
                           key's kid is exactly TAP_SKR_KEY_ID
    (5) keyvault.unwrap    key_hsm: RSA-OAEP-256 (our wrapping key) of an
                           AES key, then AES key wrap with padding of the
                           key's PKCS#8; an RSA key of >= 2048 bits

Azure SDK exceptions are translated here and nowhere else.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
import logging
from typing import Any, Final

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
)
from azure.identity.aio import ManagedIdentityCredential
from azure.keyvault.keys import KeyExportEncryptionAlgorithm
from azure.keyvault.keys.aio import KeyClient
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from enclave.azure._jwk import MIN_RSA_BITS, RSA_KTYS, public_jwk
from enclave.azure._sidecar import SidecarClient
from enclave.azure._target import SkrTarget
from enclave.errors import CustodyError

logger = logging.getLogger(__name__)

ENC: Final = KeyExportEncryptionAlgorithm.rsa_aes_key_wrap_256
"""RSA-OAEP-256 for the transfer key, then AES key wrap with padding."""
MAX_JWS_CHARS: Final = 64 * 1024
WRAPPING_KEY_BITS: Final = 2048


def _b64url(text: object, *, step: str, what: str) -> bytes:
    if not isinstance(text, str) or len(text) > MAX_JWS_CHARS:
        raise CustodyError(step, f"{what} is missing or too long")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise CustodyError(step, f"{what} is not base64url") from None


def _object(data: bytes, *, step: str, what: str) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except ValueError:
        raise CustodyError(step, f"{what} is not JSON") from None
    if not isinstance(parsed, dict):
        raise CustodyError(step, f"{what} is not a JSON object")
    return parsed


def system_trust_store() -> Store:
    """The operating system's CA certificates (what the sidecar trusts, too).

    Raises CustodyError(``keyvault.jws``) when there are none.
    """
    import ssl

    paths = ssl.get_default_verify_paths()
    try:
        with open(paths.cafile or paths.openssl_cafile, "rb") as handle:
            return Store(x509.load_pem_x509_certificates(handle.read()))
    except (OSError, ValueError) as exc:
        raise CustodyError(
            "keyvault.jws", "no system CA bundle to check Key Vault's signing certificate"
        ) from exc


def verify_release_jws(
    jws: str, *, vault_host: str, trust: Store, now: dt.datetime
) -> dict[str, Any]:
    """Steps (3): check the signature and the signer; return the payload.

    Raises CustodyError(``keyvault.jws``).
    """
    step = "keyvault.jws"
    segments = jws.split(".")
    if len(jws) > MAX_JWS_CHARS or len(segments) != 3:
        raise CustodyError(step, "Key Vault's answer is not a compact JWS")
    header = _object(
        _b64url(segments[0], step=step, what="the JWS header"), step=step, what="the JWS header"
    )
    if header.get("alg") != "RS256" or "crit" in header:
        raise CustodyError(step, "the JWS is not RS256 (or carries critical extensions)")
    chain = header.get("x5c")
    if not isinstance(chain, list) or not chain or not all(isinstance(c, str) for c in chain):
        raise CustodyError(step, "the JWS has no x5c certificate chain")
    try:
        certs = [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in chain]
    except (binascii.Error, ValueError):
        raise CustodyError(step, "the JWS x5c chain is not DER certificates") from None
    leaf = certs[0]
    key = leaf.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise CustodyError(step, "the JWS signer is not an RSA key of at least 2048 bits")
    signature = _b64url(segments[2], step=step, what="the JWS signature")
    try:
        key.verify(
            signature, f"{segments[0]}.{segments[1]}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        raise CustodyError(step, "the JWS signature does not verify with x5c[0]") from None
    host = vault_host.rsplit(":", 1)[0]
    try:
        verifier = PolicyBuilder().store(trust).time(now).build_server_verifier(x509.DNSName(host))
        verifier.verify(leaf, certs[1:])
    except VerificationError as exc:
        raise CustodyError(
            step, f"the JWS signer is not a trusted certificate for {host} ({exc})"
        ) from None
    payload = _b64url(segments[1], step=step, what="the JWS payload")
    return _object(payload, step=step, what="the JWS payload")


def unwrap_released_key(
    payload: dict[str, Any], *, kid: str, wrapping: rsa.RSAPrivateKey
) -> rsa.RSAPrivateKey:
    """Steps (4) and (5). Raises CustodyError (``keyvault.payload`` / ``keyvault.unwrap``)."""
    request = payload.get("request")
    response = payload.get("response")
    if not isinstance(request, dict) or not isinstance(response, dict):
        raise CustodyError("keyvault.payload", "the release payload has no request/response")
    if request.get("enc") != ENC.value:
        raise CustodyError("keyvault.payload", f"the key was wrapped with {request.get('enc')!r}")
    bundle = response.get("key")
    released = bundle.get("key") if isinstance(bundle, dict) else None
    if not isinstance(released, dict):
        raise CustodyError("keyvault.payload", "the release payload carries no key")
    released_kid = released.get("kid")
    if not isinstance(released_kid, str) or not hmac.compare_digest(
        released_kid.lower().encode(), kid.lower().encode()
    ):
        raise CustodyError("keyvault.payload", f"Key Vault released {released_kid!r}, not {kid}")
    if released.get("kty") not in RSA_KTYS:
        raise CustodyError("keyvault.payload", "the released key is not an RSA key")
    step = "keyvault.unwrap"
    key_hsm = _object(
        _b64url(released.get("key_hsm"), step=step, what="key_hsm"), step=step, what="key_hsm"
    )
    ciphertext = _b64url(key_hsm.get("ciphertext"), step=step, what="the key_hsm ciphertext")
    head = wrapping.key_size // 8
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    try:
        transfer = wrapping.decrypt(ciphertext[:head], oaep)
        der = aes_key_unwrap_with_padding(transfer, ciphertext[head:])
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, InvalidUnwrap):
        raise CustodyError(step, "the released key material does not unwrap") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_RSA_BITS:
        raise CustodyError(step, "the released key is not an RSA key of at least 2048 bits")
    return key


class KeyVaultKekSource:
    """Releases the KEK from Key Vault directly (``TAP_SKR_RELEASE_VIA=keyvault``)."""

    name = "keyvault"

    def __init__(
        self,
        target: SkrTarget,
        *,
        client_id: str | None = None,
        credential: AsyncTokenCredential | None = None,
        trust: Store | None = None,
        connection_verify: str | None = None,
    ) -> None:
        self._target = target
        self._client_id = client_id
        self._credential = credential
        self._trust = trust
        self._verify = connection_verify
        self._sidecar = SidecarClient(target.sidecar_url)

    async def release(self) -> rsa.RSAPrivateKey:
        await self._sidecar.wait_ready(self._target.wait_secs)
        wrapping = rsa.generate_private_key(
            public_exponent=65537, key_size=WRAPPING_KEY_BITS
        )  # (1)
        jwk = {**public_jwk(wrapping.public_key()), "kid": "tap-transfer", "key_ops": ["encrypt"]}
        runtime = json.dumps({"keys": [jwk]}, separators=(",", ":")).encode()
        token = await self._sidecar.attest_maa(
            maa_host=self._target.maa_host, runtime_data=runtime, step="keyvault.attest"
        )
        jws = await self._release(token)  # (2)
        trust = self._trust if self._trust is not None else system_trust_store()
        payload = verify_release_jws(  # (3)
            jws, vault_host=self._target.akv_host, trust=trust, now=dt.datetime.now(dt.UTC)
        )
        return unwrap_released_key(payload, kid=self._target.kid, wrapping=wrapping)  # (4) (5)

    async def _release(self, token: str) -> str:
        step = "keyvault.release"
        credential = self._credential or ManagedIdentityCredential(client_id=self._client_id)
        options: dict[str, Any] = {"verify_challenge_resource": self._credential is None}
        if self._verify is not None:
            options["connection_verify"] = self._verify
        client = KeyClient(f"https://{self._target.akv_host}", credential, **options)
        try:
            result = await client.release_key(
                self._target.key_name, token, version=self._target.key_version, algorithm=ENC
            )
        except ClientAuthenticationError as exc:
            raise CustodyError(
                step,
                "the managed identity could not get a Key Vault token; check the container "
                "group's identity (and TAP_SKR_CLIENT_ID for a user-assigned one)",
            ) from exc
        except HttpResponseError as exc:
            if exc.status_code == 403:
                raise CustodyError(
                    step,
                    "Key Vault refused the release (403): check that the key's release policy "
                    "authorizes this deployment's x-ms-sevsnpvm-hostdata and that the identity has "
                    "keys/release",
                ) from exc
            raise CustodyError(step, f"Key Vault answered {exc.status_code} to release") from exc
        except ServiceRequestError as exc:
            raise CustodyError(step, f"cannot reach Key Vault at {self._target.akv_host}") from exc
        except AzureError as exc:
            raise CustodyError(step, f"the release failed ({type(exc).__name__})") from exc
        finally:
            await client.close()
            if self._credential is None:
                await credential.close()
        if not isinstance(result.value, str):
            raise CustodyError(step, "Key Vault's answer has no value")
        return result.value
