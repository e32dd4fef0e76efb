-- Connections: a person's account at a provider, with its credential sealed by the vault, and
-- the short-lived state of OAuth connect flows.

CREATE TABLE connections (
    -- Text because sealed-column rotation reads ids as text.
    id                 TEXT PRIMARY KEY NOT NULL,
    workspace_id       BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- A provider id of the catalog, and optionally one of its services.
    provider           TEXT NOT NULL CHECK (length(provider) BETWEEN 1 AND 40),
    service            TEXT,
    label              TEXT NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    -- OAuth connections: the app that got the tokens (refresh needs it).
    oauth_app_id       TEXT REFERENCES oauth_apps (id) ON DELETE SET NULL,
    -- `expiring` is derived when read (active, no refresh token, access token ending soon).
    state              TEXT NOT NULL CHECK (state IN ('active', 'needs_reauth', 'revoked', 'error')),
    -- JSON arrays: granted scopes; hosts the credential may go to (generic providers).
    scopes             TEXT NOT NULL DEFAULT '[]',
    api_hosts          TEXT NOT NULL DEFAULT '[]',
    -- The sealed credential (kind `connection_credential`, bound to the row); NULL once revoked.
    credential         TEXT,
    has_refresh_token  INTEGER NOT NULL DEFAULT 0 CHECK (has_refresh_token IN (0, 1)),
    access_expires_at  TEXT,
    last_refreshed_at  TEXT,
    -- What went wrong last (never a secret): shown to people.
    last_error         TEXT,
    created_by         BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
) STRICT;
CREATE INDEX connections_workspace ON connections (workspace_id);

-- OAuth connect flows in progress: single-use (taken by a DELETE ... RETURNING), bound to the
-- browser session that started them, 10 minutes. The state value itself is stored as a hash;
-- the PKCE verifier is sealed (kind `pkce_verifier`, bound to the row).
CREATE TABLE oauth_connect_flows (
    id              TEXT PRIMARY KEY NOT NULL,
    state_hash      BLOB NOT NULL UNIQUE CHECK (length(state_hash) = 32),
    workspace_id    BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id         BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id      BLOB NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    oauth_app_id    TEXT NOT NULL REFERENCES oauth_apps (id) ON DELETE CASCADE,
    -- Set when re-consenting an existing connection (its credential is replaced).
    connection_id   TEXT REFERENCES connections (id) ON DELETE CASCADE,
    service         TEXT,
    label           TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    code_verifier   TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL
) STRICT;
CREATE INDEX oauth_connect_flows_expiry ON oauth_connect_flows (expires_at);
