-- Sign-in throttling with one counter row per key, locked by each attempt before the password
-- is checked, so concurrent attempts cannot slip past a limit. Keys: a (username, client
-- address) pair, a username alone (client_address = ''), an address alone (username = '').
DROP TABLE login_failures;

CREATE TABLE login_throttle (
    scope TEXT NOT NULL CHECK (scope IN ('pair', 'username', 'address')),
    username TEXT NOT NULL,
    client_address TEXT NOT NULL,
    -- Failed attempts counted (an attempt counts when it starts; a success takes it back).
    failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    -- Start of the counting period (username and address rows).
    window_started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_failure_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- No attempt for this key before this time.
    next_allowed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, username, client_address)
);
-- Pruning old rows.
CREATE INDEX login_throttle_last_failure_idx ON login_throttle (last_failure_at);
