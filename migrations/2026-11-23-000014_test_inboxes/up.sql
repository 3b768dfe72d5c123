-- The built-in test receiver: inboxes a webhook can point at, and the last requests each one
-- received, so an administrator can try Herald end to end without an outside service.
CREATE TABLE test_inboxes (
    id BIGSERIAL PRIMARY KEY,
    -- Random and unguessable: it is the only thing between the public receiving endpoint
    -- and the inbox.
    token TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE test_inbox_requests (
    id BIGSERIAL PRIMARY KEY,
    inbox_id BIGINT NOT NULL REFERENCES test_inboxes (id) ON DELETE CASCADE,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- 'delivery' (handed over inside Herald) or 'http' (posted to /inbox/{token}).
    via TEXT NOT NULL,
    -- Credentials (Authorization, custom header values) are masked before they are stored.
    headers JSONB NOT NULL,
    body TEXT NOT NULL,
    -- 'verified', 'failed', 'unsigned' or 'no_secret', and a sentence saying why.
    signature TEXT NOT NULL,
    signature_detail TEXT NOT NULL
);

CREATE INDEX test_inbox_requests_inbox_idx ON test_inbox_requests (inbox_id, id DESC);
