-- Approval requests: a request that a policy sent to a person (require_approval). The agent
-- re-submits the same request with the approval's id; it runs once. The fingerprint is a hash
-- of method, URL and body, so a changed request does not match; no body or query is stored.

CREATE TABLE approval_requests (
    id               uuid PRIMARY KEY,
    workspace_id     uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    agent_id         uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    connection_id    text NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    policy_id        uuid REFERENCES policies (id) ON DELETE SET NULL,
    method           text NOT NULL,
    host             text NOT NULL,
    path             text NOT NULL,
    fingerprint      text NOT NULL,
    body_preview     text,
    rule             text NOT NULL,
    reason           text NOT NULL,
    state            text NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'executed')),
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    decided_by       uuid REFERENCES users (id) ON DELETE SET NULL,
    decided_at       timestamptz,
    decision_reason  text,
    executed_at      timestamptz
);
CREATE INDEX approval_requests_workspace_state ON approval_requests (workspace_id, state, created_at);
CREATE INDEX approval_requests_agent ON approval_requests (agent_id, created_at);
