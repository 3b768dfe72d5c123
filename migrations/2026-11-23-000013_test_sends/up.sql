-- "Send test event" results, kept apart from real traffic: a test is not a delivery, so it is
-- never a dead letter, never counted in health, charts or failure streaks, and never replayed.
CREATE TABLE test_sends (
    id UUID PRIMARY KEY,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    duration_ms INTEGER NOT NULL,
    -- Exactly what was sent; secrets in the headers are masked as in the attempt history.
    request_headers JSONB NOT NULL,
    request_body TEXT NOT NULL,
    response_status INTEGER,
    response_headers JSONB,
    response_body TEXT,
    error_kind TEXT,
    error_message TEXT,
    delivered BOOLEAN NOT NULL
);

CREATE INDEX test_sends_webhook_idx ON test_sends (webhook_id, started_at DESC);
