-- Agents: software that acts for a workspace. An agent proves who it is with its own key pair
-- (public keys here; private keys never reach Mandate) and gets short-lived access tokens.
-- Secrets are stored as SHA-256 hashes only: bootstrap secrets and access tokens.

CREATE TABLE agents (
    id            BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    workspace_id  BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description   TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    -- The person responsible for it (its creator unless changed).
    owner_id      BLOB REFERENCES users (id) ON DELETE SET NULL,
    -- pending: created, no key enrolled yet; disabled: refused everywhere until enabled.
    status        TEXT NOT NULL CHECK (status IN ('pending', 'active', 'disabled')),
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT,
    UNIQUE (workspace_id, name)
) STRICT;

CREATE TABLE agent_keys (
    id            BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    agent_id      BLOB NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    kid           TEXT NOT NULL CHECK (length(kid) BETWEEN 1 AND 128),
    alg           TEXT NOT NULL CHECK (alg IN ('ES256', 'EdDSA')),
    thumbprint    TEXT NOT NULL,
    -- The public JWK (public members, kid, alg).
    public_jwk    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT
) STRICT;
-- An agent's active keys have distinct ids; revoked ones stay listed.
CREATE UNIQUE INDEX agent_keys_active_kid ON agent_keys (agent_id, kid) WHERE revoked_at IS NULL;
CREATE INDEX agent_keys_agent ON agent_keys (agent_id);

-- Single-use: enrollment sets used_at in the same statement that checks it is unset.
CREATE TABLE agent_bootstrap_secrets (
    token_hash  BLOB PRIMARY KEY NOT NULL CHECK (length(token_hash) = 32),
    agent_id    BLOB NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    created_by  BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
) STRICT;
CREATE INDEX agent_bootstrap_secrets_agent ON agent_bootstrap_secrets (agent_id);

CREATE TABLE agent_tokens (
    token_hash  BLOB PRIMARY KEY NOT NULL CHECK (length(token_hash) = 32),
    agent_id    BLOB NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    -- The key whose assertion got it: revoking the key ends the token.
    key_id      BLOB NOT NULL REFERENCES agent_keys (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) STRICT;
CREATE INDEX agent_tokens_agent ON agent_tokens (agent_id);
CREATE INDEX agent_tokens_expiry ON agent_tokens (expires_at);

-- Client assertion ids already used: the primary key makes a replay fail on every replica.
-- Kept until the assertion would be refused as expired anyway.
CREATE TABLE agent_assertion_jtis (
    agent_id    BLOB NOT NULL,
    jti         TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    PRIMARY KEY (agent_id, jti)
) STRICT;
CREATE INDEX agent_assertion_jtis_expiry ON agent_assertion_jtis (expires_at);
