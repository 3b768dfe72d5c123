CREATE TABLE webhooks (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    description TEXT NOT NULL DEFAULT '',
    endpoint_url TEXT NOT NULL CHECK (length(endpoint_url) <= 2048),
    enabled BOOLEAN NOT NULL DEFAULT true,
    -- Why, when and by whom it was disabled (NULL while enabled). Disabled with no
    -- `disabled_by` = disabled automatically by the delivery worker.
    disabled_reason TEXT,
    disabled_by TEXT,
    disabled_at TIMESTAMPTZ,
    all_events BOOLEAN NOT NULL DEFAULT false,
    dispatch_mode TEXT NOT NULL DEFAULT 'immediate' CHECK (dispatch_mode IN ('immediate', 'batched')),
    batch_window_minutes INTEGER CHECK (batch_window_minutes BETWEEN 1 AND 1440),
    batch_max_events INTEGER CHECK (batch_max_events BETWEEN 1 AND 1000),
    auth_kind TEXT NOT NULL DEFAULT 'none' CHECK (auth_kind IN ('none', 'basic', 'header')),
    basic_username TEXT,
    -- Secrets are XChaCha20-Poly1305 ciphertexts (nonce || sealed bytes), never clear text.
    basic_password_enc BYTEA,
    auth_header_enc BYTEA,
    signing_enabled BOOLEAN NOT NULL DEFAULT true,
    signing_secret_enc BYTEA,
    previous_signing_secret_enc BYTEA,
    previous_secret_expires_at TIMESTAMPTZ,
    retry_policy TEXT NOT NULL DEFAULT 'exponential' CHECK (retry_policy IN ('exponential', 'fixed', 'standard', 'custom')),
    retry_initial_seconds INTEGER NOT NULL DEFAULT 2 CHECK (retry_initial_seconds BETWEEN 0 AND 86400),
    retry_factor DOUBLE PRECISION NOT NULL DEFAULT 2 CHECK (retry_factor BETWEEN 1 AND 10),
    retry_max_delay_seconds INTEGER NOT NULL DEFAULT 3600 CHECK (retry_max_delay_seconds BETWEEN 1 AND 604800),
    retry_max_attempts INTEGER NOT NULL DEFAULT 60 CHECK (retry_max_attempts BETWEEN 1 AND 100),
    on_client_error TEXT NOT NULL DEFAULT 'dead_letter' CHECK (on_client_error IN ('dead_letter', 'disable')),
    disable_when_exhausted BOOLEAN NOT NULL DEFAULT false,
    timeout_seconds INTEGER NOT NULL DEFAULT 15 CHECK (timeout_seconds BETWEEN 1 AND 30),
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (dispatch_mode = 'immediate' OR (batch_window_minutes IS NOT NULL AND batch_max_events IS NOT NULL)),
    CHECK (enabled OR disabled_at IS NOT NULL)
);
CREATE UNIQUE INDEX webhooks_name_key ON webhooks (lower(name));
CREATE INDEX webhooks_created_at_idx ON webhooks (created_at DESC, id DESC);

-- Which event types a webhook subscribes to (unless all_events).
CREATE TABLE webhook_events (
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL REFERENCES event_types (name) ON DELETE CASCADE,
    PRIMARY KEY (webhook_id, event_type)
);
CREATE INDEX webhook_events_event_type_idx ON webhook_events (event_type);

-- Extra headers sent with every request; values are encrypted like the other secrets.
CREATE TABLE webhook_headers (
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    value_enc BYTEA NOT NULL,
    PRIMARY KEY (webhook_id, position)
);
