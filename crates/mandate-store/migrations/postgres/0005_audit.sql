-- The audit log. Rows are chained: `link` is an HMAC (key `key_id` in audit_keys) over the
-- row's canonical encoding, its position `seq` and the previous row's link, so an edited,
-- removed, inserted or reordered row breaks the chain (`mandate audit verify`). One chain for the
-- whole instance: writers serialize on an advisory lock, so positions have no gaps.
CREATE TABLE audit_events (
    seq             bigint PRIMARY KEY CHECK (seq >= 1),
    id              uuid NOT NULL UNIQUE,
    occurred_at     timestamptz NOT NULL,
    workspace_id    uuid,
    actor_kind      text NOT NULL CHECK (actor_kind IN ('user', 'agent', 'system')),
    actor_id        text,
    action          text NOT NULL CHECK (char_length(action) BETWEEN 1 AND 100),
    target_kind     text,
    target_id       text,
    agent_id        text,
    connection_id   text,
    decision        text CHECK (decision IN ('allowed', 'denied', 'approval_required')),
    rule            text,
    outcome         text CHECK (outcome IN ('success', 'failure', 'error')),
    method          text,
    host            text,
    path            text,
    status          integer,
    duration_ms     bigint,
    source_ip       text,
    correlation_id  text,
    details         text,
    key_id          text NOT NULL,
    link            text NOT NULL CHECK (char_length(link) = 64)
);

CREATE INDEX audit_events_time ON audit_events (occurred_at);
CREATE INDEX audit_events_workspace ON audit_events (workspace_id, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_agent ON audit_events (agent_id, seq) WHERE agent_id IS NOT NULL;
CREATE INDEX audit_events_connection ON audit_events (connection_id, seq) WHERE connection_id IS NOT NULL;

-- Signed checkpoints: `token` is a JWT from the signing key over (seq, link), verifiable with
-- the JWKS alone, so a copy kept elsewhere proves what the chain held at that position.
CREATE TABLE audit_checkpoints (
    seq         bigint PRIMARY KEY CHECK (seq >= 1),
    link        text NOT NULL CHECK (char_length(link) = 64),
    kid         text NOT NULL,
    token       text NOT NULL,
    created_at  timestamptz NOT NULL
);

-- The chain keys: 256-bit HMAC keys, separate from the data keys, sealed under the system
-- workspace's data key like every other secret.
CREATE TABLE audit_keys (
    id          text PRIMARY KEY CHECK (char_length(id) BETWEEN 1 AND 32),
    sealed_key  text NOT NULL,
    created_at  timestamptz NOT NULL
);

-- Append-only for everyone, the table owner included (a superuser can still disable triggers;
-- that is what the chain is for). docs/operations.md shows the GRANTs for the service role.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is refused: the audit log is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
