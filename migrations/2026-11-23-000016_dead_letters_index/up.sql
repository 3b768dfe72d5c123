-- A webhook's dead letters, newest first: the dead-letter list filtered by webhook, its count
-- and webhook health read this small index (dead letters only) instead of walking every dead
-- letter or every delivery of the webhook.
CREATE INDEX deliveries_dead_idx ON deliveries (webhook_id, id DESC) WHERE status = 'dead';
