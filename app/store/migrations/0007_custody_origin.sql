-- Where the data key came from: generated inside the enclave on first boot, or
-- migrated in from an environment key (tap enclave migrate-from-env). Set on
-- the wrapped_dek row when it is written; NULL on other rows and on records
-- stored before this column existed (reported as unknown).
ALTER TABLE custody
    ADD COLUMN origin text CHECK (origin IN ('generated', 'migrated'));
