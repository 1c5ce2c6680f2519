-- A hash chain per team over the audit log, and signed checkpoints over it.
--
-- Every record written from now on carries its place in its team's chain
-- (chain_seq from 1), the hash of the record before it and its own hash.
-- Rows written before this migration keep NULLs: the chain starts after them.
-- audit_chain_heads holds each team's last link; writers lock that row, so
-- workers and replicas append one after another. audit_checkpoints holds the
-- signed (team, count, head, time) statements.

ALTER TABLE audit_log
    ADD COLUMN chain_seq bigint,
    ADD COLUMN chain_prev bytea,
    ADD COLUMN chain_hash bytea;
-- Verification reads a team's rows in insertion order (ids are taken under the
-- chain-head lock, so that is chain order).
CREATE INDEX audit_log_team_id ON audit_log (team_id, id);

CREATE TABLE audit_chain_heads (
    team_id       text PRIMARY KEY,
    count         bigint NOT NULL DEFAULT 0,
    head          bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
    signed_count  bigint NOT NULL DEFAULT 0,
    signed_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_checkpoints (
    team_id    text NOT NULL,
    count      bigint NOT NULL,
    head       bytea NOT NULL,
    signed_at  timestamptz NOT NULL,
    key_id     text NOT NULL,
    signature  bytea NOT NULL,
    PRIMARY KEY (team_id, count)
);
