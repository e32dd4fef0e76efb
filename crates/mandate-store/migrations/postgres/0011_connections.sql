-- Connections: a person's account at a provider, with its credential sealed by the vault, and
-- the short-lived state of OAuth connect flows.

CREATE TABLE connections (
    -- Text because sealed-column rotation reads ids as text.
    id                 text PRIMARY KEY,
    workspace_id       uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- A provider id of the catalog, and optionally one of its services.
    provider           text NOT NULL CHECK (char_length(provider) BETWEEN 1 AND 40),
    service            text,
    label              text NOT NULL CHECK (char_length(label) BETWEEN 1 AND 100),
    -- OAuth connections: the app that got the tokens (refresh needs it).
    oauth_app_id       text REFERENCES oauth_apps (id) ON DELETE SET NULL,
    -- `expiring` is derived when read (active, no refresh token, access token ending soon).
    state              text NOT NULL CHECK (state IN ('active', 'needs_reauth', 'revoked', 'error')),
    -- JSON arrays: granted scopes; hosts the credential may go to (generic providers).
    scopes             text NOT NULL DEFAULT '[]',
    api_hosts          text NOT NULL DEFAULT '[]',
    -- The sealed credential (kind `connection_credential`, bound to the row); NULL once revoked.
    credential         text,
    has_refresh_token  boolean NOT NULL DEFAULT false,
    access_expires_at  timestamptz,
    last_refreshed_at  timestamptz,
    -- What went wrong last (never a secret): shown to people.
    last_error         text,
    created_by         uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX connections_workspace ON connections (workspace_id);

-- OAuth connect flows in progress: single-use (taken by a DELETE ... RETURNING), bound to the
-- browser session that started them, 10 minutes. The state value itself is stored as a hash;
-- the PKCE verifier is sealed (kind `pkce_verifier`, bound to the row).
CREATE TABLE oauth_connect_flows (
    id              text PRIMARY KEY,
    state_hash      bytea NOT NULL UNIQUE CHECK (length(state_hash) = 32),
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id      uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    oauth_app_id    text NOT NULL REFERENCES oauth_apps (id) ON DELETE CASCADE,
    -- Set when re-consenting an existing connection (its credential is replaced).
    connection_id   text REFERENCES connections (id) ON DELETE CASCADE,
    service         text,
    label           text NOT NULL,
    scopes          text NOT NULL,
    redirect_uri    text NOT NULL,
    code_verifier   text NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX oauth_connect_flows_expiry ON oauth_connect_flows (expires_at);
