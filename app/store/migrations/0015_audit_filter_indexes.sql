-- Indexes for the audit page's filters on outcome and credential.
--
-- Without them a filter on a value that few or no rows have walks the team's
-- whole time index (0.7-4.7 s at 10 million rows). The outcome index keeps
-- the page's order. A credential is one element of the credential_names
-- array, which no ordered index can reach; so each record's credentials are
-- also kept one per row in audit_log_credentials (written with the record by
-- app.store.audit.append), whose index reads one credential's records newest
-- first. A GIN index on the array was tried: for a name no record has, the
-- planner still preferred walking the time index (1.7 s at 10 million rows).
--
-- Building these reads the whole audit table once, while TAP starts, before
-- any worker serves.

CREATE INDEX audit_log_team_outcome_time ON audit_log (team_id, outcome, timestamp DESC, id DESC);

CREATE TABLE audit_log_credentials (
    id          bigint NOT NULL REFERENCES audit_log (id) ON UPDATE CASCADE ON DELETE CASCADE,
    team_id     text NOT NULL,
    credential  text NOT NULL,
    timestamp   timestamptz NOT NULL,
    PRIMARY KEY (id, credential)
);
CREATE INDEX audit_log_credentials_team_time
    ON audit_log_credentials (team_id, credential, timestamp DESC, id DESC);

INSERT INTO audit_log_credentials (id, team_id, credential, timestamp)
SELECT DISTINCT a.id, a.team_id, c.credential, a.timestamp
FROM audit_log a, unnest(a.credential_names) AS c(credential)
WHERE c.credential IS NOT NULL;
