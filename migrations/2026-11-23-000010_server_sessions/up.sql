-- Server-side sessions: the cookie carries only a random key; this table holds what the
-- session knows. Signing out deletes the row, so a copied cookie stops working at once.
CREATE TABLE sessions (
    id BIGSERIAL PRIMARY KEY,
    -- SHA-256 of the cookie's key: a copy of this table does not yield usable cookies.
    key_hash BYTEA NOT NULL UNIQUE,
    -- Set for signed-in sessions; anonymous ones (the sign-in form's CSRF token) have none.
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    -- The public handle a user or admin uses to end this session (never the key).
    handle UUID UNIQUE,
    -- The session's values, as the JSON text actix-session hands over (text, not jsonb, so
    -- any escaped character a flash message carries is kept as it is).
    state TEXT NOT NULL,
    client_address TEXT,
    user_agent TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The absolute end; idle expiry is judged from last_seen_at.
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
CREATE INDEX sessions_last_seen_idx ON sessions (last_seen_at);
