-- History by week: `events`, `deliveries`, `delivery_attempts` and `delivery_events` become
-- tables partitioned by range of their UUID v7 ids (which begin with their creation time in
-- milliseconds), one partition per week, so that
--   * a lookup by id, and every list ordered by id, still reads one primary key per week;
--   * retention drops a whole week (after moving its dead letters, unfinished deliveries and
--     the events they need into the `_kept` partitions) instead of deleting rows;
--   * attempts and batch members live in the week of their delivery and go with it.
-- Herald creates the weeks ahead itself (`herald_ensure_history_partitions`, called at start
-- and by the maintenance job). Rows of a week that has no partition (older than the first
-- one, or written while none existed) land in the `_kept` partition and move into their week
-- when it is created.
--
-- Integrity between these four tables is kept by the statements that write them (an event
-- and its deliveries in one statement, a delivery's attempts in its own week) rather than by
-- foreign keys, which could not survive dropping one week of one table and would cost a
-- trigger call per row.

-- The smallest UUID v7 made at `at`: partition bounds.
CREATE FUNCTION herald_uuid_at(at TIMESTAMPTZ) RETURNS UUID
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT (lpad(to_hex(floor(extract(epoch FROM at) * 1000)::bigint), 12, '0')
            || '00000000000000000000')::uuid
$$;

-- Creates the partitions of the week starting at `week_start` (a Monday, 00:00 UTC) in each
-- history table, moving in any rows of that week that were kept aside meanwhile. Returns
-- whether anything was created. Attaching (rather than CREATE … PARTITION OF) leaves the
-- parent open to inserts while it runs.
CREATE FUNCTION herald_ensure_history_week(week_start TIMESTAMPTZ) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
DECLARE
    lo UUID := herald_uuid_at(week_start);
    hi UUID := herald_uuid_at(week_start + interval '7 days');
    suffix TEXT := to_char(week_start AT TIME ZONE 'UTC', 'YYYYMMDD');
    parent TEXT;
    key TEXT;
    part TEXT;
    created BOOLEAN := false;
BEGIN
    FOREACH parent IN ARRAY ARRAY['events', 'deliveries', 'delivery_attempts', 'delivery_events'] LOOP
        part := parent || '_w' || suffix;
        CONTINUE WHEN to_regclass(part) IS NOT NULL;
        key := CASE WHEN parent IN ('events', 'deliveries') THEN 'id' ELSE 'delivery_id' END;
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent);
        EXECUTE format(
            'WITH moved AS (DELETE FROM %I WHERE %I >= %L AND %I < %L RETURNING *) '
            'INSERT INTO %I SELECT * FROM moved',
            parent || '_kept', key, lo, key, hi, part);
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       parent, part, lo, hi);
        created := true;
    END LOOP;
    RETURN created;
END
$$;

-- Every week from the one holding `from_time` to the one holding `to_time`; returns how many
-- weeks were created.
CREATE FUNCTION herald_ensure_history_partitions(from_time TIMESTAMPTZ, to_time TIMESTAMPTZ)
RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
    week TIMESTAMPTZ := date_trunc('week', from_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    created INTEGER := 0;
BEGIN
    -- One process at a time (two starting together would create the same tables).
    PERFORM pg_advisory_xact_lock(7221548011);
    WHILE week <= to_time LOOP
        IF herald_ensure_history_week(week) THEN
            created := created + 1;
        END IF;
        week := week + interval '7 days';
    END LOOP;
    RETURN created;
END
$$;

-- The old tables step aside (their indexes too, whose names the new tables take).
DO $$
DECLARE r RECORD;
BEGIN
    FOR r IN SELECT i.relname FROM pg_index x
             JOIN pg_class i ON i.oid = x.indexrelid
             JOIN pg_class t ON t.oid = x.indrelid
             WHERE t.relname IN ('events', 'deliveries', 'delivery_attempts', 'delivery_events')
               AND t.relnamespace = 'public'::regnamespace LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', r.relname, r.relname || '_flat');
    END LOOP;
END
$$;
ALTER TABLE events RENAME TO events_flat;
ALTER TABLE deliveries RENAME TO deliveries_flat;
ALTER TABLE delivery_attempts RENAME TO delivery_attempts_flat;
ALTER TABLE delivery_events RENAME TO delivery_events_flat;
ALTER SEQUENCE delivery_attempts_id_seq OWNED BY NONE;

CREATE TABLE events (
    id UUID NOT NULL,
    event_type TEXT NOT NULL CONSTRAINT events_event_type_fkey REFERENCES event_types (name),
    occurred_at TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    payload JSONB NOT NULL,
    -- Shown with the event; its uniqueness is kept in `event_keys`.
    idempotency_key TEXT CONSTRAINT events_idempotency_key_check
        CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    source TEXT NOT NULL,
    PRIMARY KEY (id)
) PARTITION BY RANGE (id);
CREATE INDEX events_received_at_idx ON events (received_at);

-- A retried post with the same key returns the first event instead of a new one. A global
-- unique key cannot live on a table partitioned by id, so keys have their own table, kept
-- for the retention period.
CREATE TABLE event_keys (
    idempotency_key TEXT PRIMARY KEY CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    event_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX event_keys_created_at_idx ON event_keys (created_at);

CREATE TABLE deliveries (
    id UUID NOT NULL,
    webhook_id BIGINT NOT NULL CONSTRAINT deliveries_webhook_id_fkey
        REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id UUID,
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
    CONSTRAINT deliveries_check CHECK (status <> 'delivering' OR lease_until IS NOT NULL),
    PRIMARY KEY (id)
) PARTITION BY RANGE (id);
CREATE INDEX deliveries_due_idx ON deliveries (webhook_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_event_idx ON deliveries (event_id);
CREATE INDEX deliveries_open_batch_idx ON deliveries (webhook_id) WHERE batch_open;
CREATE INDEX deliveries_open_idx ON deliveries (webhook_id, status) WHERE status IN ('pending', 'delivering', 'dead');
CREATE INDEX deliveries_status_id_idx ON deliveries (status, id DESC);
CREATE INDEX deliveries_type_id_idx ON deliveries (event_type, id DESC);
CREATE INDEX deliveries_webhook_id_idx ON deliveries (webhook_id, id DESC);

CREATE TABLE delivery_events (
    delivery_id UUID NOT NULL,
    event_id UUID NOT NULL,
    PRIMARY KEY (delivery_id, event_id)
) PARTITION BY RANGE (delivery_id);
CREATE INDEX delivery_events_event_idx ON delivery_events (event_id);

-- Partitioned by the delivery's id, so a delivery's attempts are in its week. The primary
-- key also finds a delivery's attempts.
CREATE TABLE delivery_attempts (
    id BIGINT NOT NULL DEFAULT nextval('delivery_attempts_id_seq'),
    delivery_id UUID NOT NULL,
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
    webhook_id BIGINT NOT NULL CONSTRAINT delivery_attempts_webhook_id_fkey
        REFERENCES webhooks (id) ON DELETE CASCADE,
    CONSTRAINT delivery_attempts_authorization_masked
        CHECK (request_headers->>'authorization' IS NULL
               OR strpos(request_headers->>'authorization', '••••••••') > 0),
    PRIMARY KEY (delivery_id, id)
) PARTITION BY RANGE (delivery_id);
ALTER SEQUENCE delivery_attempts_id_seq OWNED BY delivery_attempts.id;
CREATE INDEX delivery_attempts_failures_idx ON delivery_attempts (started_at DESC) WHERE outcome <> 'delivered';
CREATE INDEX delivery_attempts_webhook_idx ON delivery_attempts (webhook_id, started_at DESC);

CREATE TABLE events_kept PARTITION OF events DEFAULT;
CREATE TABLE deliveries_kept PARTITION OF deliveries DEFAULT;
CREATE TABLE delivery_events_kept PARTITION OF delivery_events DEFAULT;
CREATE TABLE delivery_attempts_kept PARTITION OF delivery_attempts DEFAULT;

-- Weeks for what is there (at most half a year back: older rows stay in `_kept`) and the
-- next four.
SELECT herald_ensure_history_partitions(
    GREATEST(
        COALESCE((SELECT min(created_at) FROM deliveries_flat), now()),
        COALESCE((SELECT min(received_at) FROM events_flat), now()),
        now() - interval '26 weeks'),
    now() + interval '4 weeks');

-- Attempts per webhook and hour, kept up to date by whoever writes an attempt: the dashboard,
-- the charts and the webhook health read these instead of counting attempts.
CREATE TABLE attempt_counts_hourly (
    hour TIMESTAMPTZ NOT NULL,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    delivered BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    -- Attempts that made their delivery a dead letter.
    dead BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, webhook_id)
);
CREATE INDEX attempt_counts_hourly_webhook_idx ON attempt_counts_hourly (webhook_id, hour);

-- The data moves over.
INSERT INTO events (id, event_type, occurred_at, received_at, payload, idempotency_key, source)
SELECT id, event_type, occurred_at, received_at, payload, idempotency_key, source FROM events_flat;
INSERT INTO event_keys (idempotency_key, event_id, created_at)
SELECT idempotency_key, id, received_at FROM events_flat WHERE idempotency_key IS NOT NULL;
INSERT INTO deliveries
SELECT id, webhook_id, event_id, event_type, status, batch_open, event_count, attempts,
       next_attempt_at, lease_until, leased_by, last_attempt_at, last_status, last_error_kind,
       last_error, dead_reason, delivered_at, created_at
FROM deliveries_flat;
INSERT INTO delivery_events (delivery_id, event_id) SELECT delivery_id, event_id FROM delivery_events_flat;
INSERT INTO delivery_attempts
SELECT id, delivery_id, number, started_at, duration_ms, request_headers, response_status,
       response_headers, response_body, error_kind, error_message, outcome, webhook_id
FROM delivery_attempts_flat;
INSERT INTO attempt_counts_hourly (hour, webhook_id, delivered, failed, dead)
SELECT date_trunc('hour', started_at), webhook_id,
       count(*) FILTER (WHERE outcome = 'delivered'),
       count(*) FILTER (WHERE outcome <> 'delivered'),
       count(*) FILTER (WHERE outcome IN ('dead', 'disabled'))
FROM delivery_attempts_flat GROUP BY 1, 2;

DROP TABLE delivery_attempts_flat, delivery_events_flat, deliveries_flat, events_flat;
