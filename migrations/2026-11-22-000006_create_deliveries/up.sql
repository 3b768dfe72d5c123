-- What the learning platform sent. `occurred_at` is the platform's time and is never rewritten.
CREATE TABLE events (
    id UUID PRIMARY KEY,
    event_type TEXT NOT NULL REFERENCES event_types (name),
    occurred_at TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    payload JSONB NOT NULL,
    -- A retried post with the same key returns the first event instead of a new one.
    idempotency_key TEXT UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    -- The API token (or "herald emit", "test button") it came through.
    source TEXT NOT NULL
);
CREATE INDEX events_received_at_idx ON events (received_at);

-- One row per (webhook, event), or per batch for batched webhooks (events in delivery_events).
CREATE TABLE deliveries (
    id UUID PRIMARY KEY,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    -- The event of an immediate delivery; NULL for a batch.
    event_id UUID REFERENCES events (id) ON DELETE CASCADE,
    -- The event's type, or 'batch': kept here so lists filter without a join.
    event_type TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivering', 'delivered', 'dead', 'discarded')),
    -- A batch still gathering events (until its window closes or it is full).
    batch_open BOOLEAN NOT NULL DEFAULT false,
    event_count INTEGER NOT NULL DEFAULT 1,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- While delivering: which worker holds it and until when; an expired lease is taken back.
    lease_until TIMESTAMPTZ,
    leased_by TEXT,
    last_attempt_at TIMESTAMPTZ,
    last_status INTEGER,
    last_error_kind TEXT,
    last_error TEXT,
    dead_reason TEXT CHECK (dead_reason IN ('receiver_4xx', 'retries_exhausted', 'refused_target', 'webhook_disabled', 'test')),
    delivered_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (status <> 'delivering' OR lease_until IS NOT NULL)
);
-- The worker's queue: due pending deliveries, oldest first.
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE status = 'pending';
-- Expired leases of dead workers.
CREATE INDEX deliveries_leased_idx ON deliveries (lease_until) WHERE status = 'delivering';
-- The open batch of a batched webhook.
CREATE INDEX deliveries_open_batch_idx ON deliveries (webhook_id) WHERE batch_open;
CREATE INDEX deliveries_webhook_idx ON deliveries (webhook_id, created_at DESC);
CREATE INDEX deliveries_event_idx ON deliveries (event_id);

-- The events gathered in a batch delivery.
CREATE TABLE delivery_events (
    delivery_id UUID NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    event_id UUID NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    PRIMARY KEY (delivery_id, event_id)
);
CREATE INDEX delivery_events_event_idx ON delivery_events (event_id);

-- Every try: what was sent (secrets masked) and what came back.
CREATE TABLE delivery_attempts (
    id BIGSERIAL PRIMARY KEY,
    delivery_id UUID NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    duration_ms INTEGER NOT NULL,
    request_headers JSONB NOT NULL,
    response_status INTEGER,
    response_headers JSONB,
    response_body TEXT,
    error_kind TEXT CHECK (error_kind IN ('dns', 'connect', 'tls', 'timeout', 'http', 'refused_target', 'io')),
    error_message TEXT,
    -- delivered | retry | dead | disabled
    outcome TEXT NOT NULL
);
CREATE INDEX delivery_attempts_delivery_idx ON delivery_attempts (delivery_id, number);

-- Bumped by any change to webhooks or their subscriptions, so ingest can keep the list of
-- subscribers in memory and reload it only when this number moves (read in the ingest
-- transaction, so it is exactly as fresh as querying the subscribers would be).
CREATE TABLE webhook_config_version (
    singleton BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    version BIGINT NOT NULL
);
INSERT INTO webhook_config_version (singleton, version) VALUES (true, 1);

CREATE FUNCTION herald_bump_webhook_config_version() RETURNS trigger AS $$
BEGIN
    UPDATE webhook_config_version SET version = version + 1;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER webhooks_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON webhooks
    FOR EACH STATEMENT EXECUTE FUNCTION herald_bump_webhook_config_version();
CREATE TRIGGER webhook_events_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON webhook_events
    FOR EACH STATEMENT EXECUTE FUNCTION herald_bump_webhook_config_version();
