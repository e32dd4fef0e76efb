-- Passkeys (WebAuthn credentials) as second factors, and the state of WebAuthn ceremonies in
-- flight. A ceremony is kept here rather than in a replica's memory so any replica can finish
-- it; it is deleted when used, so its challenge answers once.

CREATE TABLE passkeys (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The authenticator's credential id: one account per credential.
    credential_id  bytea NOT NULL UNIQUE CHECK (octet_length(credential_id) BETWEEN 16 AND 1023),
    name           text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- webauthn-rs's Passkey as JSON: the public key, its algorithm and the signature counter.
    -- Nothing secret: a passkey's private key never leaves the authenticator.
    credential     text NOT NULL,
    created_at     timestamptz NOT NULL,
    last_used_at   timestamptz
);
CREATE INDEX passkeys_user ON passkeys (user_id);

CREATE TABLE webauthn_ceremonies (
    id          uuid PRIMARY KEY,
    -- The session that started it; only that session may finish it.
    session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('registration', 'authentication')),
    -- webauthn-rs's registration or authentication state as JSON (the challenge).
    state       text NOT NULL,
    -- For a registration: the name the new passkey gets.
    label       text,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);
