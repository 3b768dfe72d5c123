CREATE INDEX deliveries_webhook_idx ON deliveries (webhook_id, created_at DESC);
