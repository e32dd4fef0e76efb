-- OAuth apps per workspace: the client a workspace registered at a provider, used by its connect
-- flows (separate from any OAuth used for signing in). The client secret is an envelope sealed
-- under the workspace's data key (kind `oauth_client_secret`, bound to the row id); public
-- clients (PKCE only) have none. The id is text because sealed-column rotation reads ids as text.

CREATE TABLE oauth_apps (
    id             text PRIMARY KEY,
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- A provider id of the catalog (an OAuth 2.0 one).
    provider       text NOT NULL CHECK (char_length(provider) BETWEEN 1 AND 40),
    name           text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    client_id      text NOT NULL CHECK (char_length(client_id) BETWEEN 1 AND 500),
    client_secret  text,
    -- Generic providers only: what the admin entered. JSON array of host names.
    authorize_url  text,
    token_url      text,
    revoke_url     text,
    api_hosts      text NOT NULL DEFAULT '[]',
    created_by     uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    UNIQUE (workspace_id, name)
);
CREATE INDEX oauth_apps_workspace ON oauth_apps (workspace_id);
