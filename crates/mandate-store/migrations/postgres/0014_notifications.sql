-- Notification channels of a workspace (webhook, Slack, Telegram, email) and the deliveries
-- queued for them. A delivery is retried with backoff until it is delivered or finally failed;
-- any replica may take one, a lease (`locked_until`) keeps two from sending it at once.

CREATE TABLE notification_channels (
    -- Text because sealed-column rotation reads ids as text.
    id            text PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('webhook', 'slack', 'telegram', 'email')),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- JSON array of the event types sent to this channel.
    events        text NOT NULL,
    enabled       boolean NOT NULL,
    -- JSON object of the channel's settings that are not secret (URL, chat id, addresses).
    settings      text NOT NULL,
    -- The sealed secrets (kind `notification_secret`, bound to the row): signing secrets,
    -- incoming-webhook URL, bot token, SMTP password.
    secret        text NOT NULL,
    created_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX notification_channels_workspace ON notification_channels (workspace_id);

CREATE TABLE notification_deliveries (
    id               uuid PRIMARY KEY,
    workspace_id     uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    channel_id       text NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    event            text NOT NULL,
    -- The event as sent (JSON, never a secret).
    payload          text NOT NULL,
    state            text NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    locked_until     timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL,
    finished_at      timestamptz
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_attempt_at);
CREATE INDEX notification_deliveries_channel ON notification_deliveries (channel_id, created_at);
