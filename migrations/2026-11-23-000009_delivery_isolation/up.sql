-- Per-webhook limits toward the receiver: requests in flight at once (across every worker)
-- and, optionally, requests per second.
ALTER TABLE webhooks
    ADD COLUMN max_in_flight INTEGER NOT NULL DEFAULT 8 CHECK (max_in_flight BETWEEN 1 AND 256),
    ADD COLUMN rate_limit_per_second INTEGER CHECK (rate_limit_per_second BETWEEN 1 AND 10000);

-- How a webhook's deliveries flow right now: the circuit breaker, the ramp after recovery, the
-- rate limiter's next free slot and a receiver's pause (429 + Retry-After). Kept out of
-- `webhooks` so these frequent writes neither bump the config version nor touch its indexes.
-- Claims lock these rows (ordered by webhook_id), which makes the per-webhook limits hold
-- across many worker processes.
CREATE TABLE webhook_flow (
    webhook_id BIGINT PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
    -- healthy: sending; failing: only a probe now and then.
    circuit TEXT NOT NULL DEFAULT 'healthy' CHECK (circuit IN ('healthy', 'failing')),
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failing_since TIMESTAMPTZ,
    next_probe_at TIMESTAMPTZ,
    probe_interval_seconds INTEGER NOT NULL DEFAULT 0,
    -- After recovery: how many requests may be in flight, doubling with each success (NULL: the
    -- webhook's own limit).
    ramp INTEGER,
    -- Rate limit: the earliest time the next request may start.
    rate_next_at TIMESTAMPTZ,
    -- The receiver asked to wait (429 with Retry-After) until then.
    paused_until TIMESTAMPTZ,
    CHECK (circuit = 'healthy' OR (failing_since IS NOT NULL AND next_probe_at IS NOT NULL))
);
INSERT INTO webhook_flow (webhook_id) SELECT id FROM webhooks;

CREATE FUNCTION herald_create_webhook_flow() RETURNS trigger AS $$
BEGIN
    INSERT INTO webhook_flow (webhook_id) VALUES (NEW.id);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER webhooks_flow_created AFTER INSERT ON webhooks
    FOR EACH ROW EXECUTE FUNCTION herald_create_webhook_flow();

-- Claims pick each webhook's oldest due deliveries, and count what each has in flight.
DROP INDEX deliveries_due_idx;
CREATE INDEX deliveries_due_idx ON deliveries (webhook_id, next_attempt_at) WHERE status = 'pending';
-- Leases are renewed every few seconds: keep lease_until out of every index so the renewal
-- is a HOT update. Expired leases are found among the (few) deliveries in flight.
DROP INDEX deliveries_leased_idx;

-- A worker that died mid-request leaves an attempt whose outcome nobody knows.
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_error_kind_check;
ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_error_kind_check
    CHECK (error_kind IN ('dns', 'connect', 'tls', 'timeout', 'http', 'refused_target', 'io', 'worker_lost'));
