from __future__ import annotations

import ast
import base64
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

from app import crypto
from app.crypto import (
    KeyRing,
    credential_aad,
    key_fingerprint,
    new_api_key,
    seal,
    unseal,
    value_hint,
)
from app.errors import CryptoError

MASTER = bytes(range(32))
OTHER = bytes(range(1, 33))


@pytest.fixture
def keys() -> KeyRing:
    return KeyRing.from_master_key(MASTER)


def test_purpose_keys_are_distinct_and_not_the_master(keys: KeyRing) -> None:
    derived = {keys.sealing, keys.api_key_hmac, keys.session_hmac, keys.audit_chain}
    assert len(derived) == 4
    assert MASTER not in derived
    assert all(len(k) == 32 for k in derived)


def test_keyring_repr_shows_only_a_fingerprint(keys: KeyRing) -> None:
    assert repr(keys) == f"KeyRing(fingerprint={key_fingerprint(MASTER)!r})"
    assert keys.sealing.hex() not in repr(keys)


def test_credential_round_trip(keys: KeyRing) -> None:
    blob = keys.seal_credential("sk-live-123", team_id="t1", name="stripe", key_version=1)
    assert blob[:1] == crypto.SEAL_VERSION
    assert b"sk-live-123" not in blob
    assert keys.unseal_credential(blob, team_id="t1", name="stripe", key_version=1) == "sk-live-123"


def test_nonces_are_fresh(keys: KeyRing) -> None:
    a = keys.seal_credential("same", team_id="t", name="n", key_version=1)
    b = keys.seal_credential("same", team_id="t", name="n", key_version=1)
    assert a != b


@pytest.mark.parametrize(
    ("team_id", "name", "key_version"),
    [
        # A ciphertext moved to another row must not open.
        ("t2", "stripe", 1),
        ("t1", "github", 1),
        ("t1", "stripe", 2),
        # Field boundaries are length-prefixed, so shifting characters does not collide.
        ("t1s", "tripe", 1),
    ],
)
def test_moved_ciphertext_does_not_open(
    keys: KeyRing, team_id: str, name: str, key_version: int
) -> None:
    blob = keys.seal_credential("secret", team_id="t1", name="stripe", key_version=1)
    with pytest.raises(CryptoError):
        keys.unseal_credential(blob, team_id=team_id, name=name, key_version=key_version)


def test_wrong_key_does_not_open(keys: KeyRing) -> None:
    blob = keys.seal_credential("secret", team_id="t", name="n", key_version=1)
    with pytest.raises(CryptoError):
        KeyRing.from_master_key(OTHER).unseal_credential(blob, team_id="t", name="n", key_version=1)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-1] + bytes([b[-1] ^ 1]),  # tag flipped
        lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:],  # ciphertext flipped
        lambda b: b"\x02" + b[1:],  # unknown version
        lambda b: b[:10],  # truncated
        lambda b: b"",
    ],
)
def test_tampering_is_detected(mutate: object) -> None:
    key = bytes(32)
    blob = seal(key, b"hello world", b"aad")
    with pytest.raises(CryptoError):
        unseal(key, mutate(blob), b"aad")  # type: ignore[operator]


@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33), "0" * 32])
def test_master_key_must_be_32_bytes(bad: object) -> None:
    with pytest.raises(CryptoError):
        KeyRing.from_master_key(bad)  # type: ignore[arg-type]


def test_aad_layout_is_stable() -> None:
    assert (
        credential_aad("t", "n", 1)
        == b"tap.credential.v1" + b"\0\0\0\x01t" + b"\0\0\0\x01n" + b"\0\0\0\x011"
    )


def test_api_keys() -> None:
    key = new_api_key()
    assert re.fullmatch(r"tap_[A-Za-z0-9_-]{43}", key)
    assert len(base64.urlsafe_b64decode(key[4:] + "=")) == 32
    assert new_api_key() != key


def test_api_key_hash_and_verify(keys: KeyRing) -> None:
    key = new_api_key()
    stored = keys.hash_api_key(key)
    assert key not in stored and len(stored) == 64
    keys.verify_api_key(key, stored)
    with pytest.raises(CryptoError):
        keys.verify_api_key(key + "x", stored)
    with pytest.raises(CryptoError):
        KeyRing.from_master_key(OTHER).verify_api_key(key, stored)


def test_canary(keys: KeyRing) -> None:
    blob = keys.seal_canary()
    keys.check_canary(blob)
    with pytest.raises(CryptoError):
        KeyRing.from_master_key(OTHER).check_canary(blob)


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("xoxb-1234567890-abcdef", "xo***ef"),
        ("  sk-live-abcdefgh  ", "sk***gh"),
        ("short", "***"),
        ("elevenchars", "***"),
        ('{"username": "u", "password": "p"}', "{password, username}"),
    ],
)
def test_value_hint(value: str, hint: str) -> None:
    assert value_hint(value) == hint


def test_only_crypto_module_imports_hazmat() -> None:
    offenders = []
    for path in Path("app").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if (
                any(n.startswith("cryptography.hazmat") for n in names)
                and path.as_posix() != "app/crypto.py"
            ):
                offenders.append(path.as_posix())
    assert offenders == []


# -- known-answer vectors (tests/vectors/crypto/sealed_v1.txt) -------------------------

VECTORS_DIR = Path(__file__).resolve().parents[3] / "tests" / "vectors" / "crypto"


def _second_implementation() -> Any:
    """``generate.py``: the vectors' writer and an independent reader of the format."""
    spec = importlib.util.spec_from_file_location("crypto_vectors", VECTORS_DIR / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SECOND = _second_implementation()
VECTORS: dict[str, dict[str, str]] = SECOND.parse(
    (VECTORS_DIR / "sealed_v1.txt").read_text(encoding="utf-8")
)
CREDENTIAL_VECTORS = sorted(name for name in VECTORS if name.startswith("credential"))


def test_the_vector_file_is_what_the_generator_writes() -> None:
    # The checked-in blobs and the documented format have not drifted apart.
    assert (VECTORS_DIR / "sealed_v1.txt").read_text(encoding="utf-8") == SECOND.render()


def test_purpose_keys_fingerprint_and_key_hash_match_the_vectors() -> None:
    v = VECTORS["keys"]
    keys = KeyRing.from_master_key(bytes.fromhex(v["master_key"]))
    assert keys.sealing.hex() == v["sealing_key"]
    assert keys.api_key_hmac.hex() == v["api_key_hmac_key"]
    assert keys.session_hmac.hex() == v["session_hmac_key"]
    assert keys.audit_chain.hex() == v["audit_chain_key"]
    assert keys.fingerprint == v["fingerprint"]
    assert keys.hash_api_key(v["api_key"]) == v["api_key_hash"]


@pytest.mark.parametrize("section", CREDENTIAL_VECTORS)
def test_a_v1_blob_opens_to_its_plaintext(section: str) -> None:
    v = VECTORS[section]
    keys = KeyRing.from_master_key(bytes.fromhex(v["master_key"]), version=int(v["key_version"]))
    row = {"team_id": v["team_id"], "name": v["name"], "key_version": int(v["key_version"])}
    assert credential_aad(**row).hex() == v["aad"]
    opened = keys.unseal_credential(bytes.fromhex(v["blob"]), **row)
    assert opened == bytes.fromhex(v["plaintext"]).decode()


@pytest.mark.parametrize("section", CREDENTIAL_VECTORS)
def test_what_tap_seals_today_opens_with_the_second_implementation(section: str) -> None:
    v = VECTORS[section]
    master = bytes.fromhex(v["master_key"])
    row = {"team_id": v["team_id"], "name": v["name"], "key_version": int(v["key_version"])}
    plaintext = bytes.fromhex(v["plaintext"]).decode()
    blob = KeyRing.from_master_key(master, version=row["key_version"]).seal_credential(
        plaintext, **row
    )
    sealing = SECOND.hkdf_sha256(master, SECOND.LABELS["sealing_key"])
    assert SECOND.open_blob(sealing, blob, bytes.fromhex(v["aad"])) == plaintext.encode()


@pytest.mark.parametrize("section", CREDENTIAL_VECTORS)
def test_a_v1_blob_does_not_open_for_another_row_or_version_byte(section: str) -> None:
    v = VECTORS[section]
    keys = KeyRing.from_master_key(bytes.fromhex(v["master_key"]), version=int(v["key_version"]))
    blob = bytes.fromhex(v["blob"])
    row = {"team_id": v["team_id"], "name": v["name"], "key_version": int(v["key_version"])}
    with pytest.raises(CryptoError):
        keys.unseal_credential(blob, **{**row, "key_version": row["key_version"] + 1})
    with pytest.raises(CryptoError):
        keys.unseal_credential(b"\x02" + blob[1:], **row)


def test_the_v1_canary_checks() -> None:
    v = VECTORS["canary"]
    KeyRing.from_master_key(bytes.fromhex(v["master_key"])).check_canary(bytes.fromhex(v["blob"]))
    with pytest.raises(CryptoError):
        KeyRing.from_master_key(OTHER).check_canary(bytes.fromhex(v["blob"]))
