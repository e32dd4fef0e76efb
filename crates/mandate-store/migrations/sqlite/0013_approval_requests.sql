-- Approval requests: a request that a policy sent to a person (require_approval). The agent
-- re-submits the same request with the approval's id; it runs once. The fingerprint is a hash
-- of method, URL and body, so a changed request does not match; no body or query is stored.

CREATE TABLE approval_requests (
    id               BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    workspace_id     BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    agent_id         BLOB NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    connection_id    TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    policy_id        BLOB REFERENCES policies (id) ON DELETE SET NULL,
    method           TEXT NOT NULL,
    host             TEXT NOT NULL,
    path             TEXT NOT NULL,
    fingerprint      TEXT NOT NULL,
    body_preview     TEXT,
    rule             TEXT NOT NULL,
    reason           TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'executed')),
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    decided_by       BLOB REFERENCES users (id) ON DELETE SET NULL,
    decided_at       TEXT,
    decision_reason  TEXT,
    executed_at      TEXT
) STRICT;
CREATE INDEX approval_requests_workspace_state ON approval_requests (workspace_id, state, created_at);
CREATE INDEX approval_requests_agent ON approval_requests (agent_id, created_at);
