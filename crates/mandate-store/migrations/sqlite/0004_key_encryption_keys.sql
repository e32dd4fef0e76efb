-- When each key encryption key was first used, so `mandate keys status` can show its age against
-- the rotation schedule (a KEK's own creation date is not always knowable: env, age files).
CREATE TABLE key_encryption_keys (
    kek_id      TEXT PRIMARY KEY NOT NULL,
    provider    TEXT NOT NULL,
    first_seen  TEXT NOT NULL
) STRICT;
