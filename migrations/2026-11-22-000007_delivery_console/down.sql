DROP INDEX deliveries_open_idx;
DROP INDEX deliveries_type_id_idx;
DROP INDEX deliveries_status_id_idx;
DROP INDEX deliveries_webhook_id_idx;
CREATE INDEX deliveries_webhook_idx ON deliveries (webhook_id, created_at DESC);
DROP INDEX delivery_attempts_failures_idx;
DROP INDEX delivery_attempts_webhook_idx;
ALTER TABLE delivery_attempts DROP COLUMN webhook_id;
