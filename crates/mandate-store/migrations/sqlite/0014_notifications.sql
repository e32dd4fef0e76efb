-- Notification channels of a workspace (webhook, Slack, Telegram, email) and the deliveries
-- queued for them. A delivery is retried with backoff until it is delivered or finally failed;
-- any replica may take one, a lease (`locked_until`) keeps two from sending it at once.

CREATE TABLE notification_channels (
    -- Text because sealed-column rotation reads ids as text.
    id            TEXT PRIMARY KEY NOT NULL,
    workspace_id  BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('webhook', 'slack', 'telegram', 'email')),
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- JSON array of the event types sent to this channel.
    events        TEXT NOT NULL,
    enabled       INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    -- JSON object of the channel's settings that are not secret (URL, chat id, addresses).
    settings      TEXT NOT NULL,
    -- The sealed secrets (kind `notification_secret`, bound to the row): signing secrets,
    -- incoming-webhook URL, bot token, SMTP password.
    secret        TEXT NOT NULL,
    created_by    BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;
CREATE INDEX notification_channels_workspace ON notification_channels (workspace_id);

CREATE TABLE notification_deliveries (
    id               BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    workspace_id     BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    channel_id       TEXT NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    event            TEXT NOT NULL,
    -- The event as sent (JSON, never a secret).
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    locked_until     TEXT,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    finished_at      TEXT
) STRICT;
CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_attempt_at);
CREATE INDEX notification_deliveries_channel ON notification_deliveries (channel_id, created_at);
