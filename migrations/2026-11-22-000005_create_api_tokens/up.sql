-- Bearer tokens for the API. Only a SHA-256 of each token is kept (tokens are 32 random
-- bytes, so a fast hash is enough); `token_prefix` lets people tell tokens apart.
CREATE TABLE api_tokens (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    scope TEXT NOT NULL CHECK (scope IN ('ingest', 'manage')),
    token_prefix TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    revoked_by TEXT
);
CREATE INDEX api_tokens_created_at_idx ON api_tokens (created_at DESC, id DESC);
