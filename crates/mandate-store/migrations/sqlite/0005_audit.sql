-- The audit log. Rows are chained: `link` is an HMAC (key `key_id` in audit_keys) over the
-- row's canonical encoding, its position `seq` and the previous row's link, so an edited,
-- removed, inserted or reordered row breaks the chain (`mandate audit verify`). One chain for the
-- whole instance: writers serialize on BEGIN IMMEDIATE, so positions have no gaps.
CREATE TABLE audit_events (
    seq             INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 1),
    id              BLOB NOT NULL UNIQUE CHECK (length(id) = 16),
    occurred_at     TEXT NOT NULL,
    workspace_id    BLOB CHECK (workspace_id IS NULL OR length(workspace_id) = 16),
    actor_kind      TEXT NOT NULL CHECK (actor_kind IN ('user', 'agent', 'system')),
    actor_id        TEXT,
    action          TEXT NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
    target_kind     TEXT,
    target_id       TEXT,
    agent_id        TEXT,
    connection_id   TEXT,
    decision        TEXT CHECK (decision IN ('allowed', 'denied', 'approval_required')),
    rule            TEXT,
    outcome         TEXT CHECK (outcome IN ('success', 'failure', 'error')),
    method          TEXT,
    host            TEXT,
    path            TEXT,
    status          INTEGER,
    duration_ms     INTEGER,
    source_ip       TEXT,
    correlation_id  TEXT,
    details         TEXT,
    key_id          TEXT NOT NULL,
    link            TEXT NOT NULL CHECK (length(link) = 64)
) STRICT;

CREATE INDEX audit_events_time ON audit_events (occurred_at);
CREATE INDEX audit_events_workspace ON audit_events (workspace_id, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_agent ON audit_events (agent_id, seq) WHERE agent_id IS NOT NULL;
CREATE INDEX audit_events_connection ON audit_events (connection_id, seq) WHERE connection_id IS NOT NULL;

-- Signed checkpoints: `token` is a JWT from the signing key over (seq, link), verifiable with
-- the JWKS alone, so a copy kept elsewhere proves what the chain held at that position.
CREATE TABLE audit_checkpoints (
    seq         INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 1),
    link        TEXT NOT NULL CHECK (length(link) = 64),
    kid         TEXT NOT NULL,
    token       TEXT NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;

-- The chain keys: 256-bit HMAC keys, separate from the data keys, sealed under the system
-- workspace's data key like every other secret.
CREATE TABLE audit_keys (
    id          TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 32),
    sealed_key  TEXT NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;

-- Append-only (SQLite has no TRUNCATE; a DELETE without WHERE fires these triggers too).
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'UPDATE on audit_events is refused: the audit log is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'DELETE on audit_events is refused: the audit log is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'UPDATE on audit_checkpoints is refused: the audit log is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'DELETE on audit_checkpoints is refused: the audit log is append-only'); END;
