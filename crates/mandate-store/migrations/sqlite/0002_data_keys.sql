-- Data keys (DEK): one active per workspace, stored wrapped by the key encryption key (KEK).
-- `kek_id` names the KEK that wrapped it, so KEK rotation knows what is left to re-wrap.
-- States: active (new records use it), retiring (being replaced; still opens records),
-- retired (no record uses it any more).
CREATE TABLE data_keys (
    kid           TEXT PRIMARY KEY NOT NULL,
    workspace_id  BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kek_id        TEXT NOT NULL,
    wrapped       TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('active', 'retiring', 'retired')),
    created_at    TEXT NOT NULL
) STRICT;

CREATE UNIQUE INDEX data_keys_one_active_per_workspace ON data_keys (workspace_id) WHERE state = 'active';
CREATE INDEX data_keys_by_kek ON data_keys (kek_id);
