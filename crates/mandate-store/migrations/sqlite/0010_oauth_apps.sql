-- OAuth apps per workspace: the client a workspace registered at a provider, used by its connect
-- flows (separate from any OAuth used for signing in). The client secret is an envelope sealed
-- under the workspace's data key (kind `oauth_client_secret`, bound to the row id); public
-- clients (PKCE only) have none. The id is text because sealed-column rotation reads ids as text.

CREATE TABLE oauth_apps (
    id             TEXT PRIMARY KEY NOT NULL,
    workspace_id   BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- A provider id of the catalog (an OAuth 2.0 one).
    provider       TEXT NOT NULL CHECK (length(provider) BETWEEN 1 AND 40),
    name           TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    client_id      TEXT NOT NULL CHECK (length(client_id) BETWEEN 1 AND 500),
    client_secret  TEXT,
    -- Generic providers only: what the admin entered. JSON array of host names.
    authorize_url  TEXT,
    token_url      TEXT,
    revoke_url     TEXT,
    api_hosts      TEXT NOT NULL DEFAULT '[]',
    created_by     BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    UNIQUE (workspace_id, name)
) STRICT;
CREATE INDEX oauth_apps_workspace ON oauth_apps (workspace_id);
