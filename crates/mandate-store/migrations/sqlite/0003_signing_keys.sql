-- The system workspace (nil id): the scope of instance-wide secrets such as signing keys, so they
-- are sealed like every other secret (a data key wrapped by the KEK). Never listed or addressable.
INSERT INTO workspaces (id, name, created_at)
VALUES (X'00000000000000000000000000000000', 'system', '1970-01-01T00:00:00Z');

-- Keys that sign the tokens Mandate issues. `private_key` is an envelope under the system data
-- key. One current key; previous keys stay published in the JWKS until `retire_after`.
CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY NOT NULL CHECK (length(kid) BETWEEN 1 AND 64),
    alg           TEXT NOT NULL CHECK (alg IN ('RS256', 'ES256', 'EdDSA')),
    private_key   TEXT NOT NULL,
    public_jwk    TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('current', 'previous', 'retired')),
    created_at    TEXT NOT NULL,
    retire_after  TEXT
) STRICT;

CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (state) WHERE state = 'current';
