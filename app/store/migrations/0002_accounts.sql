-- Accounts, team membership and the admin API's own state.
-- People are users; a user belongs to teams through memberships (one role per
-- team). Every bearer token and code is stored only as a keyed hash.

CREATE TABLE users (
    id               text PRIMARY KEY,
    email            text NOT NULL UNIQUE CHECK (email = lower(email)),
    password_hash    text NOT NULL,
    email_verified   boolean NOT NULL DEFAULT false,
    display_name     text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    team_id     text NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    member_role text NOT NULL CHECK (member_role IN ('owner', 'admin', 'approver')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, team_id)
);
CREATE INDEX memberships_team ON memberships (team_id, created_at);

-- Bearer sessions. A session is valid only while its user is still a member
-- of its team (checked by a join on every request), so removing a member
-- ends their sessions at once. 'setup' sessions only reach passkey setup.
CREATE TABLE sessions (
    token_hash text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    team_id    text NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    scope      text NOT NULL CHECK (scope IN ('full', 'setup')),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Short emailed codes (email verification, password reset). A code is bound
-- to its user: the hash covers the user id, one live code per user and
-- purpose, and the row dies after a bounded number of wrong guesses.
CREATE TABLE email_codes (
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    code_hash  text NOT NULL,
    attempts   integer NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, purpose)
);

CREATE TABLE invites (
    id          text PRIMARY KEY,
    team_id     text NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    email       text NOT NULL CHECK (email = lower(email)),
    member_role text NOT NULL CHECK (member_role IN ('owner', 'admin', 'approver')),
    token_hash  text NOT NULL UNIQUE,
    invited_by  text REFERENCES users (id) ON DELETE SET NULL,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (team_id, email)
);
CREATE INDEX invites_email ON invites (email);

-- Which credentials an approver may see, approve and build keys from. The
-- row goes with the membership and with the credential.
CREATE TABLE approver_credentials (
    team_id         text NOT NULL,
    user_id         text NOT NULL,
    credential_name text NOT NULL,
    PRIMARY KEY (team_id, user_id, credential_name),
    FOREIGN KEY (user_id, team_id) REFERENCES memberships (user_id, team_id) ON DELETE CASCADE,
    FOREIGN KEY (team_id, credential_name) REFERENCES credentials (team_id, name) ON DELETE CASCADE
);

CREATE TABLE notification_channels (
    id           text PRIMARY KEY,
    team_id      text NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    channel_type text NOT NULL CHECK (channel_type IN ('telegram', 'matrix', 'dashboard', 'agent_reflected')),
    name         text NOT NULL,
    config       jsonb NOT NULL DEFAULT '{}',
    enabled      boolean NOT NULL DEFAULT true,
    priority     integer NOT NULL DEFAULT 1000,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (team_id, name)
);

-- Fixed-window failure counters for brute-force bounds (login per account
-- and per client address, code and invite guesses per address).
CREATE TABLE auth_throttle (
    key          text NOT NULL,
    window_start timestamptz NOT NULL,
    count        integer NOT NULL,
    PRIMARY KEY (key, window_start)
);
