-- A credential's secret goes over plain http:// only when the credential says so.
-- Existing credentials get false: https only, the safe reading of "not stated".
ALTER TABLE credentials ADD COLUMN allow_http boolean NOT NULL DEFAULT false;
