-- When each key encryption key was first used, so `mandate keys status` can show its age against
-- the rotation schedule (a KEK's own creation date is not always knowable: env, age files).
CREATE TABLE key_encryption_keys (
    kek_id      text PRIMARY KEY,
    provider    text NOT NULL,
    first_seen  timestamptz NOT NULL
);
