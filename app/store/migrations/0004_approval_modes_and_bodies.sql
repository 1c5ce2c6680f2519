-- Approvals remember how they will be forwarded, and bodies are stored once.
--
-- * mode: 'unified' (X-TAP-Credential: TAP injects the credential's headers)
--   or 'placeholder' (<CREDENTIAL:name> references in headers). The executor
--   reads it instead of guessing from header text, which let an approved
--   unified-mode request carry a secret in a header the agent chose.
-- * credential_names: every credential the request uses, as an array.
-- * injected_headers: the headers the credential renders (unified mode), so
--   the approver sees every header that will go upstream.
-- * Bodies live in approval_bodies, keyed by team and SHA-256, once however
--   many parked requests carry them; body_held says the row still needs its
--   body (pending, approved, forwarding). The hash and size stay after the
--   body is dropped, for approvers and the audit.

CREATE TABLE approval_bodies (
    team_id   text NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    sha256    text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    body      bytea NOT NULL,
    size      bigint NOT NULL CHECK (size >= 0),
    last_used timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, sha256)
);

ALTER TABLE approvals
    ADD COLUMN mode text NOT NULL DEFAULT 'unified' CHECK (mode IN ('unified', 'placeholder')),
    ADD COLUMN credential_names text[] NOT NULL DEFAULT '{}',
    ADD COLUMN injected_headers text[] NOT NULL DEFAULT '{}',
    ADD COLUMN body_sha256 text NOT NULL DEFAULT encode(sha256(''::bytea), 'hex'),
    ADD COLUMN body_size bigint NOT NULL DEFAULT 0,
    ADD COLUMN body_held boolean NOT NULL DEFAULT false;

-- Rows parked before this migration: names from the comma-joined column; the
-- mode guessed once, failing towards placeholder mode, whose placement rules
-- now run after approval (a reference outside an auth header is refused).
UPDATE approvals SET
    credential_names = string_to_array(credential_name, ','),
    mode = CASE WHEN request_headers::text LIKE '%<CREDENTIAL:%' THEN 'placeholder' ELSE 'unified' END,
    body_sha256 = encode(sha256(coalesce(request_body, ''::bytea)), 'hex'),
    body_size = length(coalesce(request_body, ''::bytea)),
    body_held = status IN ('pending', 'approved', 'forwarding');

INSERT INTO approval_bodies (team_id, sha256, body, size)
SELECT DISTINCT ON (team_id, body_sha256) team_id, body_sha256, coalesce(request_body, ''::bytea), body_size
  FROM approvals WHERE body_held
ON CONFLICT DO NOTHING;

ALTER TABLE approvals
    DROP COLUMN credential_name,
    DROP COLUMN request_body,
    DROP COLUMN body_preview,
    ADD CONSTRAINT approvals_names_present CHECK (cardinality(credential_names) >= 1);

-- The pending caps count a team's and an agent's open requests.
CREATE INDEX approvals_agent_status ON approvals (team_id, agent_id, status);
-- Bodies still needed by some row, looked up when a body may be dropped.
CREATE INDEX approvals_held_body ON approvals (team_id, body_sha256) WHERE body_held;
