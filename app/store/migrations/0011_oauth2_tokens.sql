-- A cheap documented call that proves a credential works (GET, credential
-- injected), for POST /team/credentials/{name}/verify on header kinds.
ALTER TABLE credentials ADD COLUMN verify_url text;

-- OAuth 2 access tokens TAP obtained for a credential: one row per credential.
--
-- sealed_access_token is sealed with the credential sealing (AES-256-GCM)
-- under associated data that names the row's token slot, so it opens only
-- here, for this team and credential, under key_version. source_digest is the
-- SHA-256 of the credential's sealed value the token was obtained with: a new
-- value (or a rotated refresh token) makes the row stale.
CREATE TABLE oauth2_tokens (
    team_id              text NOT NULL,
    credential_name      text NOT NULL,
    sealed_access_token  bytea NOT NULL,
    key_version          integer NOT NULL,
    source_digest        bytea NOT NULL,
    obtained_at          timestamptz NOT NULL,
    expires_at           timestamptz NOT NULL,
    PRIMARY KEY (team_id, credential_name),
    FOREIGN KEY (team_id, credential_name)
        REFERENCES credentials (team_id, name) ON DELETE CASCADE ON UPDATE CASCADE
);
