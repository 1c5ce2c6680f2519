-- Passkeys (WebAuthn credentials), their single-use challenges, and the
-- evidence a passkey approval leaves behind.

-- A member's passkeys. The credential id is base64url without padding; the
-- public key is the COSE key the authenticator registered. sign_count is
-- persisted so a cloned authenticator's counter regression is refused.
CREATE TABLE webauthn_credentials (
    id            text PRIMARY KEY,
    user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    public_key    bytea NOT NULL,
    sign_count    bigint NOT NULL DEFAULT 0,
    display_name  text NOT NULL,
    transports    text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);

-- Every ceremony's challenge: one slot per (purpose, subject, user), taken
-- (deleted) exactly once, and useless after expires_at. ``subject`` names what
-- the ceremony is for (the user for registration, the hashed login token, the
-- approval's txn id, the member whose passkeys are reset); ``payload`` carries
-- what the ceremony binds (the canonical request of an approval, the team a
-- login signs into).
CREATE TABLE webauthn_challenges (
    purpose     text NOT NULL CHECK (purpose IN ('register', 'login', 'approve', 'step_up')),
    subject     text NOT NULL,
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    challenge   bytea NOT NULL,
    payload     text,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (purpose, subject, user_id)
);

-- What a passkey approval signed. Kept beyond the approval row's own clean-up,
-- so anyone can re-check an approval later from these bytes alone.
CREATE TABLE approval_evidence (
    txn_id              uuid NOT NULL,
    team_id             text NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    approver            text NOT NULL,
    canonical_request   text NOT NULL,
    credential_id       text NOT NULL,
    public_key          bytea NOT NULL,
    authenticator_data  bytea NOT NULL,
    client_data_json    bytea NOT NULL,
    signature           bytea NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (txn_id, approver)
);
CREATE INDEX approval_evidence_team ON approval_evidence (team_id, created_at);

-- The audit record of a request approved with passkeys names the evidence it
-- was forwarded on (hex SHA-256 of the published evidence).
ALTER TABLE audit_log ADD COLUMN approval_evidence_sha256 text;
