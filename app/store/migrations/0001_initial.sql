-- TAP schema, first version. Every team-scoped table carries team_id and
-- references teams; JSON lists are jsonb or text[]; times are timestamptz.

CREATE TABLE teams (
    id                    text PRIMARY KEY,
    name                  text NOT NULL UNIQUE,
    default_approval_mode text NOT NULL DEFAULT 'gated'
                          CHECK (default_approval_mode IN ('gated', 'autonomous')),
    created_at            timestamptz NOT NULL DEFAULT now()
);

-- Custody facts: the key canary, and in enclave mode the wrapped data key.
-- Rows are written once and never updated.
CREATE TABLE custody (
    name       text PRIMARY KEY,
    value      bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE credentials (
    team_id            text NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name               text NOT NULL CHECK (name ~ '^[a-z0-9-]{1,64}$'),
    description        text NOT NULL DEFAULT '',
    auth_type          text NOT NULL DEFAULT 'api-key',
    connector          text NOT NULL DEFAULT 'direct',
    api_base           text,
    relative_target    boolean NOT NULL DEFAULT false,
    auth_header_format text,
    auth_bindings      jsonb NOT NULL DEFAULT '[]',
    allowed_hosts      jsonb NOT NULL DEFAULT '[]',
    sealed_value       bytea,
    key_version        integer NOT NULL DEFAULT 1,
    value_hint         text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, name)
);

CREATE TABLE roles (
    team_id             text NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name                text NOT NULL,
    description         text NOT NULL DEFAULT '',
    rate_limit_per_hour integer CHECK (rate_limit_per_hour > 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, name)
);

CREATE TABLE role_credentials (
    team_id         text NOT NULL,
    role_name       text NOT NULL,
    credential_name text NOT NULL,
    PRIMARY KEY (team_id, role_name, credential_name),
    FOREIGN KEY (team_id, role_name) REFERENCES roles (team_id, name) ON DELETE CASCADE,
    FOREIGN KEY (team_id, credential_name) REFERENCES credentials (team_id, name) ON DELETE CASCADE
);

CREATE TABLE agents (
    team_id             text NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    id                  text NOT NULL,
    description         text NOT NULL DEFAULT '',
    api_key_hash        text NOT NULL UNIQUE,
    rate_limit_per_hour integer CHECK (rate_limit_per_hour > 0),
    enabled             boolean NOT NULL DEFAULT true,
    all_credentials     boolean NOT NULL DEFAULT false,
    owner_user_id       text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, id)
);

CREATE TABLE agent_roles (
    team_id   text NOT NULL,
    agent_id  text NOT NULL,
    role_name text NOT NULL,
    PRIMARY KEY (team_id, agent_id, role_name),
    FOREIGN KEY (team_id, agent_id) REFERENCES agents (team_id, id) ON DELETE CASCADE,
    FOREIGN KEY (team_id, role_name) REFERENCES roles (team_id, name) ON DELETE CASCADE
);

CREATE TABLE agent_credentials (
    team_id         text NOT NULL,
    agent_id        text NOT NULL,
    credential_name text NOT NULL,
    PRIMARY KEY (team_id, agent_id, credential_name),
    FOREIGN KEY (team_id, agent_id) REFERENCES agents (team_id, id) ON DELETE CASCADE,
    FOREIGN KEY (team_id, credential_name) REFERENCES credentials (team_id, name) ON DELETE CASCADE
);

CREATE TABLE policies (
    team_id                  text NOT NULL,
    credential_name          text NOT NULL,
    auto_approve_methods     text[] NOT NULL DEFAULT '{}',
    require_approval_methods text[] NOT NULL DEFAULT '{}',
    auto_approve_urls        text[] NOT NULL DEFAULT '{}',
    require_approval_urls    text[] NOT NULL DEFAULT '{}',
    allowed_approvers        text[] NOT NULL DEFAULT '{}',
    approval_channel         text,
    telegram_chat_id         text,
    matrix_room_id           text,
    matrix_allowed_approvers text[] NOT NULL DEFAULT '{}',
    require_passkey          boolean NOT NULL DEFAULT false,
    min_approvals            integer NOT NULL DEFAULT 1 CHECK (min_approvals >= 1),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, credential_name),
    FOREIGN KEY (team_id, credential_name) REFERENCES credentials (team_id, name) ON DELETE CASCADE
);

-- One row per request that waits for a human. The stored request is what
-- gets forwarded (exactly once) after approval; it never holds a secret,
-- because injection happens at forward time.
CREATE TABLE approvals (
    txn_id           uuid PRIMARY KEY,
    team_id          text NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    agent_id         text NOT NULL,
    credential_name  text NOT NULL,
    method           text NOT NULL,
    target_url       text NOT NULL,
    request_headers  jsonb NOT NULL DEFAULT '[]',
    request_body     bytea,
    body_preview     text,
    policy_reason    text,
    require_passkey  boolean NOT NULL DEFAULT false,
    min_approvals    integer NOT NULL DEFAULT 1,
    allowed_approvers text[] NOT NULL DEFAULT '{}',
    -- pending -> approved -> forwarding -> forwarded | error ; pending -> denied | expired
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'approved', 'forwarding', 'forwarded',
                                       'error', 'denied', 'expired')),
    resolved_by      text,
    resolved_at      timestamptz,
    response_status  integer,
    response_headers jsonb,
    response_body    bytea,
    response_error   text,
    -- Set once the executor has audited a denial, so each is audited exactly once.
    denial_audited   boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL
);
CREATE INDEX approvals_team_status ON approvals (team_id, status, created_at DESC);

CREATE TABLE approval_votes (
    txn_id     uuid NOT NULL REFERENCES approvals (txn_id) ON DELETE CASCADE,
    voter      text NOT NULL,
    decision   text NOT NULL CHECK (decision IN ('approve', 'deny')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (txn_id, voter)
);

CREATE TABLE audit_log (
    id                     bigserial PRIMARY KEY,
    request_id             uuid NOT NULL,
    team_id                text NOT NULL,
    agent_id               text NOT NULL,
    credential_names       text[] NOT NULL DEFAULT '{}',
    target_url             text,
    method                 text,
    outcome                text NOT NULL,
    approval_status        text,
    upstream_status        integer,
    total_latency_ms       integer,
    approval_latency_ms    integer,
    upstream_latency_ms    integer,
    response_sanitized     boolean NOT NULL DEFAULT false,
    request_headers        jsonb NOT NULL DEFAULT '[]',
    request_body           text,
    request_body_truncated boolean NOT NULL DEFAULT false,
    policy_reason          text,
    require_passkey        boolean NOT NULL DEFAULT false,
    approver_identity      text,
    error                  text,
    timestamp              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_team_agent_time ON audit_log (team_id, agent_id, timestamp DESC);
CREATE INDEX audit_log_team_time ON audit_log (team_id, timestamp DESC);

-- Per-agent request counts in one-minute buckets; a rolling hour is the sum
-- of the last sixty buckets, so every replica sees the same count.
CREATE TABLE rate_counters (
    team_id      text NOT NULL,
    agent_id     text NOT NULL,
    bucket_start timestamptz NOT NULL,
    count        integer NOT NULL,
    PRIMARY KEY (team_id, agent_id, bucket_start)
);

-- Take one request from an agent's rolling-hour allowance, atomically across
-- replicas. A request counts only when admitted, so a limit of N admits
-- exactly N requests in any sixty-minute window. A bucket counts until its
-- last instant is an hour old (conservative: never more than N per hour).
CREATE FUNCTION tap_rate_take(p_team text, p_agent text, p_limit integer)
RETURNS TABLE (admitted boolean, used integer, retry_after_secs integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_now    timestamptz := clock_timestamp();
    v_bucket timestamptz := date_trunc('minute', v_now);
    v_used   integer;
    v_oldest timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_team || '/' || p_agent, 0));
    DELETE FROM rate_counters
     WHERE team_id = p_team AND agent_id = p_agent
       AND bucket_start + interval '61 minutes' <= v_now;
    SELECT coalesce(sum(count), 0), min(bucket_start) INTO v_used, v_oldest
      FROM rate_counters WHERE team_id = p_team AND agent_id = p_agent;
    IF v_used >= p_limit THEN
        RETURN QUERY SELECT false, v_used,
            greatest(1, ceil(extract(epoch FROM (v_oldest + interval '61 minutes' - v_now))))::integer;
        RETURN;
    END IF;
    INSERT INTO rate_counters (team_id, agent_id, bucket_start, count)
    VALUES (p_team, p_agent, v_bucket, 1)
    ON CONFLICT (team_id, agent_id, bucket_start) DO UPDATE SET count = rate_counters.count + 1;
    RETURN QUERY SELECT true, v_used + 1, 0;
END
$$;
