-- The webhook of each attempt, so health figures (success rate, consecutive failures) and the
-- dashboard's recent failures read one index instead of joining every delivery.
ALTER TABLE delivery_attempts ADD COLUMN webhook_id BIGINT;
UPDATE delivery_attempts a SET webhook_id = d.webhook_id FROM deliveries d WHERE d.id = a.delivery_id;
ALTER TABLE delivery_attempts ALTER COLUMN webhook_id SET NOT NULL;
CREATE INDEX delivery_attempts_webhook_idx ON delivery_attempts (webhook_id, started_at DESC);
CREATE INDEX delivery_attempts_failures_idx ON delivery_attempts (started_at DESC) WHERE outcome <> 'delivered';

-- Lists are newest first by id (UUID v7 ids sort by creation time, so time ranges are id
-- ranges on the primary key) with keyset pagination; each filter has an index in that order.
DROP INDEX deliveries_webhook_idx;
CREATE INDEX deliveries_webhook_id_idx ON deliveries (webhook_id, id DESC);
CREATE INDEX deliveries_status_id_idx ON deliveries (status, id DESC);
CREATE INDEX deliveries_type_id_idx ON deliveries (event_type, id DESC);
-- Pending and dead counts per webhook: a small index, as most deliveries end delivered.
CREATE INDEX deliveries_open_idx ON deliveries (webhook_id, status) WHERE status IN ('pending', 'delivering', 'dead');
