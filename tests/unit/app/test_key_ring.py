"""Key versions in the key ring: transfers, purpose keys, and adopting what the database lists."""

from __future__ import annotations

import pytest

from app.crypto import KeyRing, VersionKeys, open_purposes
from app.errors import CryptoError
from app.store.key_versions import KeyVersion, adopt

OLD = bytes(range(32))
NEW = bytes(range(32, 64))


def _rows(ring: KeyRing, *, retired_old: bool = False) -> tuple[KeyRing, list[KeyVersion]]:
    """A ring holding both versions, and the rows a rotation from 1 to 2 writes."""
    new = VersionKeys.from_master_key(NEW)
    both = ring.with_versions({1: ring.version(1), 2: new}, write_version=2)
    transfers = not retired_old
    rows = [
        KeyVersion(
            version=1,
            fingerprint=ring.version(1).fingerprint,
            purpose_keys=both.seal_purposes(under=1),
            transfer=both.seal_version_keys(ring.version(1), of_version=1, under=2)
            if transfers
            else None,
            transfer_under=2 if transfers else None,
            wrapped_dek=None,
            retired=retired_old,
        ),
        KeyVersion(
            version=2,
            fingerprint=new.fingerprint,
            purpose_keys=both.seal_purposes(under=2),
            transfer=both.seal_version_keys(new, of_version=2, under=1) if transfers else None,
            transfer_under=1 if transfers else None,
            wrapped_dek=None,
            retired=False,
        ),
    ]
    return both, rows


def test_a_ring_with_the_old_key_adopts_the_new_one_and_writes_under_it() -> None:
    ring = KeyRing.from_master_key(OLD)
    _, rows = _rows(ring)
    adopted = adopt(ring, rows)
    assert set(adopted.versions) == {1, 2} and adopted.write_version == 2
    assert adopted.version(2).sealing == VersionKeys.from_master_key(NEW).sealing
    blob = adopted.seal_credential("v", team_id="t", name="n", key_version=2)
    only_new = KeyRing.from_master_key(NEW, version=2)
    assert only_new.unseal_credential(blob, team_id="t", name="n", key_version=2) == "v"


def test_a_ring_with_the_new_key_adopts_the_old_one() -> None:
    old_ring = KeyRing.from_master_key(OLD)
    _, rows = _rows(old_ring)
    purposes = open_purposes(VersionKeys.from_master_key(NEW), rows[1].purpose_keys, version=2)
    assert purposes == old_ring.purposes
    new_ring = KeyRing(
        versions={2: VersionKeys.from_master_key(NEW)},
        write_version=2,
        purposes=purposes,
        fingerprint=rows[1].fingerprint,
    )
    adopted = adopt(new_ring, rows)
    assert set(adopted.versions) == {1, 2}
    assert adopted.version(1).sealing == old_ring.version(1).sealing


def test_retired_versions_are_dropped_and_an_unreachable_ring_is_kept() -> None:
    ring = KeyRing.from_master_key(OLD)
    both, rows = _rows(ring, retired_old=True)
    assert set(adopt(both, rows).versions) == {2}
    # Slept through the whole rotation: nothing it holds is live, nothing new opens.
    assert adopt(ring, rows) is ring


def test_a_transfer_opens_only_as_what_it_was_sealed_for() -> None:
    ring = KeyRing.from_master_key(OLD)
    both, rows = _rows(ring)
    blob = rows[1].transfer
    assert blob is not None
    with pytest.raises(CryptoError):
        both.open_version_keys(blob, of_version=3, under=1, fingerprint="x")
    with pytest.raises(CryptoError):
        both.open_version_keys(blob, of_version=2, under=2, fingerprint="x")
    with pytest.raises(CryptoError):
        open_purposes(ring.version(1), rows[1].purpose_keys, version=2)


def test_the_write_version_must_be_held_and_reprs_show_no_keys() -> None:
    ring = KeyRing.from_master_key(OLD)
    with pytest.raises(CryptoError):
        ring.with_versions({1: ring.version(1)}, write_version=2)
    with pytest.raises(CryptoError):
        ring.seal_credential("v", team_id="t", name="n", key_version=2)
    shown = repr(ring) + repr(ring.version(1)) + repr(ring.purposes)
    for secret in (ring.version(1).sealing, ring.version(1).keyring, ring.api_key_hmac):
        assert secret.hex() not in shown
