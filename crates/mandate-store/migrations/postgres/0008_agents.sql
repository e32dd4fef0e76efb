-- Agents: software that acts for a workspace. An agent proves who it is with its own key pair
-- (public keys here; private keys never reach Mandate) and gets short-lived access tokens.
-- Secrets are stored as SHA-256 hashes only: bootstrap secrets and access tokens.

CREATE TABLE agents (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description   text NOT NULL DEFAULT '' CHECK (char_length(description) <= 1000),
    -- The person responsible for it (its creator unless changed).
    owner_id      uuid REFERENCES users (id) ON DELETE SET NULL,
    -- pending: created, no key enrolled yet; disabled: refused everywhere until enabled.
    status        text NOT NULL CHECK (status IN ('pending', 'active', 'disabled')),
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz,
    UNIQUE (workspace_id, name)
);

CREATE TABLE agent_keys (
    id            uuid PRIMARY KEY,
    agent_id      uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    kid           text NOT NULL CHECK (char_length(kid) BETWEEN 1 AND 128),
    alg           text NOT NULL CHECK (alg IN ('ES256', 'EdDSA')),
    thumbprint    text NOT NULL,
    -- The public JWK (public members, kid, alg).
    public_jwk    text NOT NULL,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
-- An agent's active keys have distinct ids; revoked ones stay listed.
CREATE UNIQUE INDEX agent_keys_active_kid ON agent_keys (agent_id, kid) WHERE revoked_at IS NULL;
CREATE INDEX agent_keys_agent ON agent_keys (agent_id);

-- Single-use: enrollment sets used_at in the same statement that checks it is unset.
CREATE TABLE agent_bootstrap_secrets (
    token_hash  bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    agent_id    uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX agent_bootstrap_secrets_agent ON agent_bootstrap_secrets (agent_id);

CREATE TABLE agent_tokens (
    token_hash  bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    agent_id    uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    -- The key whose assertion got it: revoking the key ends the token.
    key_id      uuid NOT NULL REFERENCES agent_keys (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX agent_tokens_agent ON agent_tokens (agent_id);
CREATE INDEX agent_tokens_expiry ON agent_tokens (expires_at);

-- Client assertion ids already used: the primary key makes a replay fail on every replica.
-- Kept until the assertion would be refused as expired anyway.
CREATE TABLE agent_assertion_jtis (
    agent_id    uuid NOT NULL,
    jti         text NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (agent_id, jti)
);
CREATE INDEX agent_assertion_jtis_expiry ON agent_assertion_jtis (expires_at);
