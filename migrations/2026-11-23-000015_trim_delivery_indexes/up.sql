-- Every status change of a delivery writes an entry into each of its indexes. The per-webhook
-- list orders by id (UUIDv7, in time order), so this index on (webhook_id, created_at)
-- duplicated deliveries_webhook_id_idx and was read by no query.
DROP INDEX IF EXISTS deliveries_webhook_idx;
