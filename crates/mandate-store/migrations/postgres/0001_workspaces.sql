-- Workspaces: the tenant boundary. Every later resource belongs to exactly one.
-- The change bus needs no table: it uses LISTEN/NOTIFY on the channel `mandate_changes`.
CREATE TABLE workspaces (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL
);
