-- Policies: each binds one agent to one connection (what the agent may do with it is the
-- document, the agent API contract's policy shape, checked by the server before it is stored).
-- An agent reaches only connections it has a policy for.

CREATE TABLE policies (
    id             uuid PRIMARY KEY,
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    agent_id       uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    connection_id  text NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    document       text NOT NULL,
    version        integer NOT NULL DEFAULT 1,
    created_by     uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    UNIQUE (agent_id, connection_id)
);
CREATE INDEX policies_connection ON policies (connection_id);
