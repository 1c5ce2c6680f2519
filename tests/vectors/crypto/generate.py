"""Write ``sealed_v1.txt``: known-answer vectors for TAP's sealed-value format, version 1.

Run from the repository root:  python tests/vectors/crypto/generate.py

This script is a second implementation: it imports nothing of TAP. It derives
the purpose keys with its own RFC 5869 HKDF over the standard library's
HMAC-SHA256 and seals with AES-256-GCM from ``cryptography``, using fixed
master keys and fixed nonces, so every run writes the same bytes. The tests
open these blobs with ``app.crypto`` and check that this script still
reproduces the file; a change to the format on either side fails them.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "sealed_v1.txt"

VERSION = b"\x01"
SALT = b"tap/v1"
LABELS = {
    "sealing_key": b"tap credential sealing v1",
    "api_key_hmac_key": b"tap agent api-key hmac v1",
    "session_hmac_key": b"tap session-token hmac v1",
    "audit_chain_key": b"tap audit chain v1",
}
FINGERPRINT_LABEL = b"tap master-key fingerprint v1"
CREDENTIAL_TAG = b"tap.credential.v1"
CANARY = b"tap.canary.v1"

HEADER = """\
# TAP sealed-value format, version 1: known-answer vectors.
#
# Made by `python tests/vectors/crypto/generate.py`, which does not import TAP:
# RFC 5869 HKDF-SHA256 written over the standard library's HMAC, AES-256-GCM
# from `cryptography`, fixed master keys and fixed nonces (rerunning it writes
# this file byte for byte). Do not edit by hand.
#
# Purpose keys: HKDF-SHA256(master_key, salt="tap/v1", info=<label>, 32 bytes).
# Sealed blob:  0x01 || nonce (12 bytes) || AES-256-GCM ciphertext || tag (16 bytes).
# Credential associated data: "tap.credential.v1" followed by team_id, name and
#   key_version (decimal), each as a 4-byte big-endian length and its UTF-8 bytes.
# Canary: the plaintext and the associated data are both "tap.canary.v1".
# Agent key hash: hex HMAC-SHA256(api_key_hmac_key, api_key).
# Master-key fingerprint: first 16 hex digits of HMAC-SHA256(master_key,
#   "tap master-key fingerprint v1").
"""


def hkdf_sha256(master_key: bytes, info: bytes, length: int = 32) -> bytes:
    """RFC 5869, extract then expand."""
    prk = hmac.new(SALT, master_key, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def credential_aad(team_id: str, name: str, key_version: int) -> bytes:
    parts = [text.encode() for text in (team_id, name, str(key_version))]
    return CREDENTIAL_TAG + b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def seal(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    return VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_blob(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """The reader side of the second implementation. Raises on any mismatch."""
    if blob[:1] != VERSION:
        raise ValueError("unknown version")
    return AESGCM(key).decrypt(blob[1:13], blob[13:], aad)


#: (section, master key, nonce, team_id, name, key_version, plaintext)
CREDENTIALS = [
    ("credential ascii", bytes(range(32)), bytes(range(12)),
     "7d9f5a6e-3f0b-4c1e-9a57-0c2b8f1d4e21", "github", 1, "ghp_vector0123456789abcdef"),
    ("credential unicode", bytes(range(32, 64)), bytes(range(100, 112)),
     "00000000-0000-0000-0000-000000000001", "bücher-api", 7, '{"user": "zoë", "pass": "π≈3.14"}'),
]  # fmt: skip
CANARY_NONCE = bytes(range(200, 212))
API_KEY = "tap_vectorAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def render() -> str:
    sections: list[list[tuple[str, str]]] = []
    master = bytes(range(32))
    keys = [(label, hkdf_sha256(master, info).hex()) for label, info in LABELS.items()]
    fingerprint = hmac.new(master, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]
    api_hmac = hkdf_sha256(master, LABELS["api_key_hmac_key"])
    sections.append(
        [("section", "keys"), ("master_key", master.hex()), *keys,
         ("fingerprint", fingerprint), ("api_key", API_KEY),
         ("api_key_hash", hmac.new(api_hmac, API_KEY.encode(), hashlib.sha256).hexdigest())]
    )  # fmt: skip
    for section, master_key, nonce, team_id, name, version, plaintext in CREDENTIALS:
        sealing = hkdf_sha256(master_key, LABELS["sealing_key"])
        aad = credential_aad(team_id, name, version)
        blob = seal(sealing, nonce, plaintext.encode(), aad)
        sections.append(
            [("section", section), ("master_key", master_key.hex()), ("team_id", team_id),
             ("name", name), ("key_version", str(version)), ("plaintext", plaintext.encode().hex()),
             ("aad", aad.hex()), ("blob", blob.hex())]
        )  # fmt: skip
    sealing = hkdf_sha256(master, LABELS["sealing_key"])
    sections.append(
        [("section", "canary"), ("master_key", master.hex()),
         ("blob", seal(sealing, CANARY_NONCE, CANARY, CANARY).hex())]
    )  # fmt: skip
    body = "\n".join(
        "\n".join(f"[{pairs[0][1]}]" if k == "section" else f"{k} = {v}" for k, v in pairs)
        for pairs in sections
    )
    return HEADER + "\n" + body + "\n"


def parse(text: str) -> dict[str, dict[str, str]]:
    """Read the vector file: ``[section]`` headers, then ``name = value`` lines."""
    vectors: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = vectors.setdefault(line[1:-1], {})
            continue
        name, sep, value = line.partition(" = ")
        if not sep or current is None:
            raise ValueError(f"malformed vector line: {line!r}")
        current[name] = value
    return vectors


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {OUTPUT.name}\n")
