-- Master-key versions, for online rotation (`tap key rotate`).
--
-- A database that was never rotated has no rows: everything is sealed under
-- version 1, the key custody yields. A rotation adds the next version; while
-- two versions are live each row carries its own sealing keys sealed under
-- the other's (`transfer`, `transfer_under`), so a process that holds either
-- key learns the other from here. Retiring the old version clears both
-- transfers and stamps `retired_at`; the row stays so the retired key is
-- refused by name.
CREATE TABLE key_versions (
    version        integer PRIMARY KEY CHECK (version >= 1),
    fingerprint    text NOT NULL UNIQUE,
    purpose_keys   bytea NOT NULL,
    transfer       bytea,
    transfer_under integer REFERENCES key_versions (version),
    wrapped_dek    bytea,
    created_at     timestamptz NOT NULL DEFAULT now(),
    retired_at     timestamptz,
    CHECK ((transfer IS NULL) = (transfer_under IS NULL))
);
