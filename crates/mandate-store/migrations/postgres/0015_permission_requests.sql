-- Permission requests: an agent asks for access it does not have (an action template of the
-- policy library, with its reason). A person grants it, which binds a connection and creates
-- the policy (its id is kept here), or refuses it. One pending request per agent and template.

CREATE TABLE permission_requests (
    id               uuid PRIMARY KEY,
    workspace_id     uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    agent_id         uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    template_id      text NOT NULL,
    reason           text NOT NULL,
    state            text NOT NULL CHECK (state IN ('pending', 'granted', 'refused')),
    created_at       timestamptz NOT NULL,
    decided_by       uuid REFERENCES users (id) ON DELETE SET NULL,
    decided_at       timestamptz,
    decision_reason  text,
    connection_id    text REFERENCES connections (id) ON DELETE SET NULL,
    policy_id        uuid REFERENCES policies (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX permission_requests_one_pending ON permission_requests (agent_id, template_id) WHERE state = 'pending';
CREATE INDEX permission_requests_workspace ON permission_requests (workspace_id, state, created_at);
