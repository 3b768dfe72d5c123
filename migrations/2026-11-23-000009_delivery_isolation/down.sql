DELETE FROM delivery_attempts WHERE error_kind = 'worker_lost';
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_error_kind_check;
ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_error_kind_check
    CHECK (error_kind IN ('dns', 'connect', 'tls', 'timeout', 'http', 'refused_target', 'io'));
CREATE INDEX deliveries_leased_idx ON deliveries (lease_until) WHERE status = 'delivering';
DROP INDEX deliveries_due_idx;
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE status = 'pending';
DROP TRIGGER webhooks_flow_created ON webhooks;
DROP FUNCTION herald_create_webhook_flow();
DROP TABLE webhook_flow;
ALTER TABLE webhooks DROP COLUMN rate_limit_per_second, DROP COLUMN max_in_flight;
