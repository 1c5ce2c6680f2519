-- A credential may allow responses TAP cannot scan for secrets (binary
-- downloads in an unknown encoding, archives it cannot open) to be passed on
-- instead of withheld. Off by default; every use is recorded in the audit.
ALTER TABLE credentials
    ADD COLUMN allow_unscannable_responses boolean NOT NULL DEFAULT false;

-- Why a response could not be scanned, and whether it was passed on anyway.
ALTER TABLE audit_log
    ADD COLUMN response_unscannable text,
    ADD COLUMN response_unscannable_allowed boolean NOT NULL DEFAULT false;
