-- Policies: each binds one agent to one connection (what the agent may do with it is the
-- document, the agent API contract's policy shape, checked by the server before it is stored).
-- An agent reaches only connections it has a policy for.

CREATE TABLE policies (
    id             BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    workspace_id   BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    agent_id       BLOB NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    connection_id  TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    document       TEXT NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1,
    created_by     BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    UNIQUE (agent_id, connection_id)
) STRICT;
CREATE INDEX policies_connection ON policies (connection_id);
