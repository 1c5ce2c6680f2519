"""TAP's cryptographic recipes. The only module in ``app`` that touches ``cryptography.hazmat``.

- :class:`KeyRing` derives one key per purpose from the 32-byte master key with
  HKDF-SHA256 and a distinct label, so no key is ever used for two jobs. It
  holds one :class:`VersionKeys` per live master-key version (two while a
  rotation runs) and the :class:`PurposeKeys`, which no rotation changes.
- :func:`seal` / :func:`unseal`: AES-256-GCM with a random 96-bit nonce. The
  associated data binds a ciphertext to its row (team, credential name, key
  version): a ciphertext copied to another row does not open.
- :func:`new_api_key` / :meth:`KeyRing.hash_api_key`: 256-bit agent keys with a
  ``tap_`` prefix, stored only as HMAC-SHA256.
- :func:`value_hint`: what the admin side may show of a value.
- :class:`AuditSigner` / :func:`verify_audit_signature`: Ed25519 signatures on
  audit checkpoints, the signing key derived from the ``audit_chain`` key.
- :func:`webpush_encrypt`: RFC 8291 message encryption for web push (the
  ``aes128gcm`` coding of RFC 8188), one record per message.

Every ciphertext starts with a format version byte so the algorithm can change
later. Verification raises :class:`~app.errors.CryptoError` and never returns a bool.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.errors import CryptoError

MASTER_KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
SEAL_VERSION: Final = b"\x01"
API_KEY_PREFIX: Final = "tap_"
API_KEY_RANDOM_BYTES: Final = 32
ED25519_PUBLIC_KEY_BYTES: Final = 32
ED25519_SIGNATURE_BYTES: Final = 64
HINT_MIN_LENGTH: Final = 12

# HKDF labels: one per purpose. Changing one invalidates everything it protects.
_HKDF_SALT: Final = b"tap/v1"
LABEL_SEALING: Final = b"tap credential sealing v1"
LABEL_API_KEY: Final = b"tap agent api-key hmac v1"
LABEL_SESSION: Final = b"tap session-token hmac v1"
LABEL_AUDIT: Final = b"tap audit chain v1"
LABEL_FINGERPRINT: Final = b"tap master-key fingerprint v1"
LABEL_AUDIT_SIGNING: Final = b"tap audit checkpoint ed25519 v1"
LABEL_KEYRING: Final = b"tap keyring v1"

# Associated data layout: a purpose tag, then length-prefixed fields.
AAD_CREDENTIAL: Final = b"tap.credential.v1"
AAD_OAUTH2_TOKEN: Final = b"tap.oauth2-access-token.v1"
_AAD_CANARY: Final = b"tap.canary.v1"
_AAD_TRANSFER: Final = b"tap.keyring.transfer.v1"
_AAD_PURPOSES: Final = b"tap.keyring.purposes.v1"


def derive_key(master_key: bytes, *, label: bytes, length: int = 32) -> bytes:
    """HKDF-SHA256 of ``master_key`` for one purpose. Raises CryptoError on a bad key."""
    _check_master_key(master_key)
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=_HKDF_SALT, info=label).derive(
        master_key
    )


@dataclass(frozen=True, slots=True, repr=False)
class VersionKeys:
    """The keys of one master-key version: what rotation changes. Its repr shows only a fingerprint."""

    sealing: bytes
    keyring: bytes
    """Seals the key ring's own material (another version's keys, the purpose keys)."""
    fingerprint: str

    @classmethod
    def from_master_key(cls, master_key: bytes) -> VersionKeys:
        return cls(
            sealing=derive_key(master_key, label=LABEL_SEALING),
            keyring=derive_key(master_key, label=LABEL_KEYRING),
            fingerprint=key_fingerprint(master_key),
        )

    def __repr__(self) -> str:
        return f"VersionKeys(fingerprint={self.fingerprint!r})"


@dataclass(frozen=True, slots=True, repr=False)
class PurposeKeys:
    """The keys rotation never changes: agent-key and token hashes, the audit chain.

    They are derived from the first master key and, once a database is rotated,
    carried sealed from version to version, so agent keys, sessions and the
    audit chain keep working across rotations without a re-hash.
    """

    api_key_hmac: bytes
    session_hmac: bytes
    audit_chain: bytes

    @classmethod
    def from_master_key(cls, master_key: bytes) -> PurposeKeys:
        return cls(
            api_key_hmac=derive_key(master_key, label=LABEL_API_KEY),
            session_hmac=derive_key(master_key, label=LABEL_SESSION),
            audit_chain=derive_key(master_key, label=LABEL_AUDIT),
        )

    def __repr__(self) -> str:
        return "PurposeKeys(...)"


@dataclass(frozen=True, slots=True, repr=False)
class KeyRing:
    """The keys one process holds: one :class:`VersionKeys` per live master-key version.

    New ciphertexts are sealed under ``write_version``; a ciphertext names its
    version (a column beside it, bound by the associated data) and opens under
    that version's keys. ``fingerprint`` names the master key custody yielded.
    Its repr shows only that fingerprint.
    """

    versions: Mapping[int, VersionKeys]
    write_version: int
    purposes: PurposeKeys
    fingerprint: str

    def __post_init__(self) -> None:
        if self.write_version not in self.versions:
            raise CryptoError()

    @classmethod
    def from_master_key(cls, master_key: bytes, *, version: int = 1) -> KeyRing:
        """The ring of a database never rotated: one version, purpose keys derived from it."""
        keys = VersionKeys.from_master_key(master_key)
        return cls(
            versions=MappingProxyType({version: keys}),
            write_version=version,
            purposes=PurposeKeys.from_master_key(master_key),
            fingerprint=keys.fingerprint,
        )

    def __repr__(self) -> str:
        return f"KeyRing(fingerprint={self.fingerprint!r})"

    @property
    def sealing(self) -> bytes:
        """The write version's sealing key."""
        return self.version(self.write_version).sealing

    @property
    def api_key_hmac(self) -> bytes:
        return self.purposes.api_key_hmac

    @property
    def session_hmac(self) -> bytes:
        return self.purposes.session_hmac

    @property
    def audit_chain(self) -> bytes:
        return self.purposes.audit_chain

    def version(self, version: int) -> VersionKeys:
        """The keys of ``version``. Raises CryptoError when this ring does not hold it."""
        keys = self.versions.get(version)
        if keys is None:
            raise CryptoError()
        return keys

    def with_versions(self, versions: Mapping[int, VersionKeys], *, write_version: int) -> KeyRing:
        """This ring holding exactly ``versions``, writing under ``write_version``."""
        return KeyRing(
            versions=MappingProxyType(dict(versions)),
            write_version=write_version,
            purposes=self.purposes,
            fingerprint=self.fingerprint,
        )

    def hash_api_key(self, api_key: str) -> str:
        """The stored form of an agent key: hex HMAC-SHA256 under the api-key purpose key."""
        return hmac.new(self.purposes.api_key_hmac, api_key.encode(), hashlib.sha256).hexdigest()

    def verify_api_key(self, api_key: str, stored_hash: str) -> None:
        """Raise CryptoError unless ``api_key`` hashes to ``stored_hash`` (constant time)."""
        if not hmac.compare_digest(self.hash_api_key(api_key), stored_hash):
            raise CryptoError()

    def hash_token(self, token: str) -> str:
        """Stored form of a session-like bearer token (sessions, invites, resets)."""
        return hmac.new(self.purposes.session_hmac, token.encode(), hashlib.sha256).hexdigest()

    def seal_row(
        self, plaintext: bytes, *, purpose: bytes, parts: Sequence[str], key_version: int
    ) -> bytes:
        """Seal a value bound to its row (``purpose`` tag, identifying ``parts``) and version."""
        aad = row_aad(purpose, parts, key_version)
        return seal(self.version(key_version).sealing, plaintext, aad)

    def unseal_row(
        self, blob: bytes, *, purpose: bytes, parts: Sequence[str], key_version: int
    ) -> bytes:
        """Inverse of :meth:`seal_row`. Raises CryptoError for another row, version or key."""
        aad = row_aad(purpose, parts, key_version)
        return unseal(self.version(key_version).sealing, blob, aad)

    def seal_credential(
        self, plaintext: str, *, team_id: str, name: str, key_version: int
    ) -> bytes:
        return self.seal_row(
            plaintext.encode(),
            purpose=AAD_CREDENTIAL,
            parts=(team_id, name),
            key_version=key_version,
        )

    def unseal_credential(self, blob: bytes, *, team_id: str, name: str, key_version: int) -> str:
        """Open a credential value. Raises CryptoError if it was sealed for another row or key."""
        plaintext = self.unseal_row(
            blob, purpose=AAD_CREDENTIAL, parts=(team_id, name), key_version=key_version
        )
        try:
            return plaintext.decode()
        except UnicodeDecodeError:
            raise CryptoError() from None

    def audit_signer(self) -> AuditSigner:
        """The Ed25519 key that signs audit checkpoints (derived from the audit-chain key)."""
        return AuditSigner(derive_key(self.audit_chain, label=LABEL_AUDIT_SIGNING))

    def seal_canary(self) -> bytes:
        """The canary, under the write version's key."""
        return seal(self.version(self.write_version).sealing, _AAD_CANARY, _AAD_CANARY)

    def check_canary(self, blob: bytes) -> None:
        """Raise CryptoError unless ``blob`` was sealed by one of this ring's master keys."""
        for keys in self.versions.values():
            try:
                opened = unseal(keys.sealing, blob, _AAD_CANARY)
            except CryptoError:
                continue
            if hmac.compare_digest(opened, _AAD_CANARY):
                return
        raise CryptoError()

    def seal_version_keys(self, of: VersionKeys, *, of_version: int, under: int) -> bytes:
        """``of``'s keys sealed under version ``under``'s key-ring key (a rotation's transfer)."""
        return seal(
            self.version(under).keyring, of.sealing + of.keyring, _transfer_aad(of_version, under)
        )

    def open_version_keys(
        self, blob: bytes, *, of_version: int, under: int, fingerprint: str
    ) -> VersionKeys:
        """Inverse of :meth:`seal_version_keys`. Raises CryptoError."""
        raw = unseal(self.version(under).keyring, blob, _transfer_aad(of_version, under))
        if len(raw) != 2 * MASTER_KEY_BYTES:
            raise CryptoError()
        return VersionKeys(
            sealing=raw[:MASTER_KEY_BYTES], keyring=raw[MASTER_KEY_BYTES:], fingerprint=fingerprint
        )

    def seal_purposes(self, *, under: int) -> bytes:
        """The purpose keys sealed under version ``under``'s key-ring key."""
        p = self.purposes
        raw = p.api_key_hmac + p.session_hmac + p.audit_chain
        return seal(self.version(under).keyring, raw, _purposes_aad(under))


def open_purposes(keys: VersionKeys, blob: bytes, *, version: int) -> PurposeKeys:
    """The purpose keys a key-version row carries, opened with that version's keys. Raises CryptoError."""
    raw = unseal(keys.keyring, blob, _purposes_aad(version))
    if len(raw) != 3 * MASTER_KEY_BYTES:
        raise CryptoError()
    n = MASTER_KEY_BYTES
    return PurposeKeys(api_key_hmac=raw[:n], session_hmac=raw[n : 2 * n], audit_chain=raw[2 * n :])


def _transfer_aad(of_version: int, under: int) -> bytes:
    return _AAD_TRANSFER + _length_prefixed(str(of_version)) + _length_prefixed(str(under))


def _purposes_aad(version: int) -> bytes:
    return _AAD_PURPOSES + _length_prefixed(str(version))


class AuditSigner:
    """Signs audit checkpoints. Its repr shows only the public key's id."""

    __slots__ = ("_private", "public_key", "key_id")

    def __init__(self, seed: bytes) -> None:
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key: bytes = self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        """The raw 32-byte Ed25519 public key."""
        self.key_id: str = audit_key_id(self.public_key)

    def __repr__(self) -> str:
        return f"AuditSigner(key_id={self.key_id!r})"

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


def audit_key_id(public_key: bytes) -> str:
    """A short name for an audit public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def verify_audit_signature(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Raise CryptoError unless ``signature`` is ``public_key``'s Ed25519 signature of ``message``."""
    if len(public_key) != ED25519_PUBLIC_KEY_BYTES or len(signature) != ED25519_SIGNATURE_BYTES:
        raise CryptoError()
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        raise CryptoError() from None


WEBPUSH_RECORD_SIZE: Final = 4096
"""The record size a web push message is written with (one record; push services take 4096 bytes)."""


def webpush_encrypt(plaintext: bytes, *, ua_public: bytes, auth_secret: bytes) -> bytes:
    """RFC 8291: ``plaintext`` for the browser key ``ua_public`` (an uncompressed P-256
    point) and its 16-byte ``auth_secret``, as one ``aes128gcm`` record with its header.

    Built on this module's primitives rather than taken from pywebpush, whose
    ``http_ece`` has no wheel (the image installs hash-pinned wheels only). The
    tests decrypt with ``http_ece`` itself. Raises CryptoError for a key that is
    not a point on P-256.
    """
    try:
        ua_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ua_public)
    except ValueError:
        raise CryptoError() from None
    # A fresh sender key and salt per message (RFC 8291 §3.1, RFC 8188 §2.1).
    as_key = ec.generate_private_key(ec.SECP256R1())
    as_public = as_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    info = b"WebPush: info\x00" + ua_public + as_public
    ikm = _hkdf(as_key.exchange(ec.ECDH(), ua_key), salt=auth_secret, info=info, length=32)
    salt = secrets.token_bytes(16)
    cek = _hkdf(ikm, salt=salt, info=b"Content-Encoding: aes128gcm\x00", length=16)
    nonce = _hkdf(ikm, salt=salt, info=b"Content-Encoding: nonce\x00", length=12)
    # 0x02: the last (and only) record, with no further padding.
    ciphertext = AESGCM(cek).encrypt(nonce, plaintext + b"\x02", None)
    header = salt + WEBPUSH_RECORD_SIZE.to_bytes(4, "big") + bytes([len(as_public)]) + as_public
    return header + ciphertext


def _hkdf(ikm: bytes, *, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM: ``version || nonce || ciphertext+tag``."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return SEAL_VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def unseal(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Inverse of :func:`seal`. Raises CryptoError on any mismatch, without saying which."""
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != SEAL_VERSION:
        raise CryptoError()
    nonce, ciphertext = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise CryptoError() from None


def row_aad(purpose: bytes, parts: Sequence[str], key_version: int) -> bytes:
    """Associated data binding a ciphertext to its table (``purpose``), row and key version."""
    return purpose + b"".join(_length_prefixed(part) for part in (*parts, str(key_version)))


def credential_aad(team_id: str, name: str, key_version: int) -> bytes:
    """Associated data binding a credential ciphertext to its row."""
    return row_aad(AAD_CREDENTIAL, (team_id, name), key_version)


def _length_prefixed(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(4, "big") + raw


def key_fingerprint(master_key: bytes) -> str:
    """A short, domain-separated fingerprint that identifies a key without revealing it."""
    _check_master_key(master_key)
    return hmac.new(master_key, LABEL_FINGERPRINT, hashlib.sha256).hexdigest()[:16]


def new_api_key() -> str:
    """A fresh agent key: ``tap_`` + 256 random bits, base64url without padding."""
    raw = base64.urlsafe_b64encode(secrets.token_bytes(API_KEY_RANDOM_BYTES)).rstrip(b"=").decode()
    return API_KEY_PREFIX + raw


def new_token() -> str:
    """A 256-bit random token in hex (sessions, invites)."""
    return secrets.token_hex(32)


def new_master_key() -> bytes:
    return secrets.token_bytes(MASTER_KEY_BYTES)


def value_hint(value: str) -> str:
    """What may be shown of a value: ``{fields}`` for JSON objects, else first and last two characters."""
    text = value.strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return "{" + ", ".join(sorted(str(k) for k in parsed)) + "}"
    # NOTE: short values show nothing; two plus two characters of an
    # eight-character secret would already reveal half of it.
    if len(text) < HINT_MIN_LENGTH:
        return "***"
    return f"{text[:2]}***{text[-2:]}"


def _check_master_key(master_key: bytes) -> None:
    if not isinstance(master_key, bytes) or len(master_key) != MASTER_KEY_BYTES:
        raise CryptoError()
