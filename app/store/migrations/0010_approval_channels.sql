-- Approval channels: verified chat identities, their link codes, web push
-- subscriptions, and the outbox that delivers notifications off the request path.

-- A chat account (Telegram user id, Matrix user id) proven to belong to a
-- person: created only when that account sends the single-use code the
-- person asked for. One account links to at most one person.
CREATE TABLE user_identities (
    id           text PRIMARY KEY,
    user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text NOT NULL,
    external_id  text NOT NULL,
    display      text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, external_id)
);
CREATE INDEX user_identities_user ON user_identities (user_id);

-- Codes a person asked for to link a chat account; stored hashed, taken
-- (deleted) exactly once, useless after expires_at.
CREATE TABLE identity_link_codes (
    code_hash   text PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX identity_link_codes_user ON identity_link_codes (user_id, kind);

-- A browser's web push subscription, for one person in one team.
CREATE TABLE push_subscriptions (
    endpoint    text PRIMARY KEY,
    team_id     text NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    p256dh      text NOT NULL,
    auth        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX push_subscriptions_team ON push_subscriptions (team_id);

-- One row per (request, channel), inserted in the transaction that parks the
-- request. Workers claim rows with FOR UPDATE SKIP LOCKED and a lease, so
-- each message goes out once across replicas; failures are retried with
-- back-off. After the request is decided the delivered message is updated.
CREATE TABLE channel_outbox (
    id               bigserial PRIMARY KEY,
    txn_id           uuid NOT NULL REFERENCES approvals (txn_id) ON DELETE CASCADE,
    team_id          text NOT NULL,
    kind             text NOT NULL,
    channel_name     text NOT NULL,
    destination      jsonb NOT NULL DEFAULT '{}',
    state            text NOT NULL DEFAULT 'deliver'
                     CHECK (state IN ('deliver', 'delivered', 'done', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    message_ref      jsonb,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (txn_id, kind, channel_name)
);
CREATE INDEX channel_outbox_due ON channel_outbox (state, next_attempt_at);
