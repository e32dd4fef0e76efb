-- Workspaces: the tenant boundary. Every later resource belongs to exactly one.
-- ids are UUIDv7 stored as 16-byte blobs; times are RFC 3339 text in UTC.
CREATE TABLE workspaces (
    id          BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  TEXT NOT NULL
) STRICT;
