-- Back to one plain table each, with the data.
DO $$
DECLARE r RECORD;
BEGIN
    FOR r IN SELECT i.relname FROM pg_index x
             JOIN pg_class i ON i.oid = x.indexrelid
             JOIN pg_class t ON t.oid = x.indrelid
             WHERE t.relname IN ('events', 'deliveries', 'delivery_attempts', 'delivery_events')
               AND t.relnamespace = 'public'::regnamespace LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', r.relname, r.relname || '_parted');
    END LOOP;
END
$$;
ALTER TABLE events RENAME TO events_parted;
ALTER TABLE deliveries RENAME TO deliveries_parted;
ALTER TABLE delivery_attempts RENAME TO delivery_attempts_parted;
ALTER TABLE delivery_events RENAME TO delivery_events_parted;
ALTER SEQUENCE delivery_attempts_id_seq OWNED BY NONE;

CREATE TABLE events (
    id UUID PRIMARY KEY,
    event_type TEXT NOT NULL CONSTRAINT events_event_type_fkey REFERENCES event_types (name),
    occurred_at TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    payload JSONB NOT NULL,
    idempotency_key TEXT UNIQUE CONSTRAINT events_idempotency_key_check CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    source TEXT NOT NULL
);
CREATE INDEX events_received_at_idx ON events (received_at);

CREATE TABLE deliveries (
    id UUID PRIMARY KEY,
    webhook_id BIGINT NOT NULL CONSTRAINT deliveries_webhook_id_fkey
        REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id UUID REFERENCES events (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CONSTRAINT deliveries_status_check
        CHECK (status IN ('pending', 'delivering', 'delivered', 'dead', 'discarded')),
    batch_open BOOLEAN NOT NULL DEFAULT false,
    event_count INTEGER NOT NULL DEFAULT 1,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_until TIMESTAMPTZ,
    leased_by TEXT,
    last_attempt_at TIMESTAMPTZ,
    last_status INTEGER,
    last_error_kind TEXT,
    last_error TEXT,
    dead_reason TEXT CONSTRAINT deliveries_dead_reason_check CHECK (dead_reason IN ('receiver_4xx', 'retries_exhausted', 'refused_target', 'webhook_disabled', 'test')),
    delivered_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT deliveries_check CHECK (status <> 'delivering' OR lease_until IS NOT NULL)
);
CREATE INDEX deliveries_due_idx ON deliveries (webhook_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_event_idx ON deliveries (event_id);
CREATE INDEX deliveries_open_batch_idx ON deliveries (webhook_id) WHERE batch_open;
CREATE INDEX deliveries_open_idx ON deliveries (webhook_id, status) WHERE status IN ('pending', 'delivering', 'dead');
CREATE INDEX deliveries_status_id_idx ON deliveries (status, id DESC);
CREATE INDEX deliveries_type_id_idx ON deliveries (event_type, id DESC);
CREATE INDEX deliveries_webhook_id_idx ON deliveries (webhook_id, id DESC);

CREATE TABLE delivery_events (
    delivery_id UUID NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    event_id UUID NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    PRIMARY KEY (delivery_id, event_id)
);
CREATE INDEX delivery_events_event_idx ON delivery_events (event_id);

CREATE TABLE delivery_attempts (
    id BIGINT PRIMARY KEY DEFAULT nextval('delivery_attempts_id_seq'),
    delivery_id UUID NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    duration_ms INTEGER NOT NULL,
    request_headers JSONB NOT NULL,
    response_status INTEGER,
    response_headers JSONB,
    response_body TEXT,
    error_kind TEXT CONSTRAINT delivery_attempts_error_kind_check
        CHECK (error_kind IN ('dns', 'connect', 'tls', 'timeout', 'http', 'refused_target', 'io', 'worker_lost')),
    error_message TEXT,
    outcome TEXT NOT NULL,
    webhook_id BIGINT NOT NULL,
    CONSTRAINT delivery_attempts_authorization_masked
        CHECK (request_headers->>'authorization' IS NULL
               OR strpos(request_headers->>'authorization', '••••••••') > 0)
);
ALTER SEQUENCE delivery_attempts_id_seq OWNED BY delivery_attempts.id;
CREATE INDEX delivery_attempts_delivery_idx ON delivery_attempts (delivery_id, number);
CREATE INDEX delivery_attempts_failures_idx ON delivery_attempts (started_at DESC) WHERE outcome <> 'delivered';
CREATE INDEX delivery_attempts_webhook_idx ON delivery_attempts (webhook_id, started_at DESC);

-- Keys as the events remember them (the first event of each key keeps it).
INSERT INTO events (id, event_type, occurred_at, received_at, payload, idempotency_key, source)
SELECT e.id, e.event_type, e.occurred_at, e.received_at, e.payload,
       CASE WHEN k.event_id IS NOT NULL THEN e.idempotency_key END, e.source
FROM events_parted e LEFT JOIN event_keys k ON k.event_id = e.id;
INSERT INTO deliveries SELECT * FROM deliveries_parted d
WHERE d.event_id IS NULL OR EXISTS (SELECT 1 FROM events e WHERE e.id = d.event_id);
INSERT INTO delivery_events SELECT * FROM delivery_events_parted de
WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = de.delivery_id)
  AND EXISTS (SELECT 1 FROM events e WHERE e.id = de.event_id);
INSERT INTO delivery_attempts (id, delivery_id, number, started_at, duration_ms, request_headers,
    response_status, response_headers, response_body, error_kind, error_message, outcome, webhook_id)
SELECT id, delivery_id, number, started_at, duration_ms, request_headers, response_status,
       response_headers, response_body, error_kind, error_message, outcome, webhook_id
FROM delivery_attempts_parted a
WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = a.delivery_id);

DROP TABLE delivery_attempts_parted, delivery_events_parted, deliveries_parted, events_parted;
DROP TABLE attempt_counts_hourly, event_keys;
DROP FUNCTION herald_ensure_history_partitions(TIMESTAMPTZ, TIMESTAMPTZ);
DROP FUNCTION herald_ensure_history_week(TIMESTAMPTZ);
DROP FUNCTION herald_uuid_at(TIMESTAMPTZ);
