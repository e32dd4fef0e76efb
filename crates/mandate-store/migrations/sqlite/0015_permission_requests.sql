-- Permission requests: an agent asks for access it does not have (an action template of the
-- policy library, with its reason). A person grants it, which binds a connection and creates
-- the policy (its id is kept here), or refuses it. One pending request per agent and template.

CREATE TABLE permission_requests (
    id               BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    workspace_id     BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    agent_id         BLOB NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    template_id      TEXT NOT NULL,
    reason           TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'granted', 'refused')),
    created_at       TEXT NOT NULL,
    decided_by       BLOB REFERENCES users (id) ON DELETE SET NULL,
    decided_at       TEXT,
    decision_reason  TEXT,
    connection_id    TEXT REFERENCES connections (id) ON DELETE SET NULL,
    policy_id        BLOB REFERENCES policies (id) ON DELETE SET NULL
) STRICT;
CREATE UNIQUE INDEX permission_requests_one_pending ON permission_requests (agent_id, template_id) WHERE state = 'pending';
CREATE INDEX permission_requests_workspace ON permission_requests (workspace_id, state, created_at);
