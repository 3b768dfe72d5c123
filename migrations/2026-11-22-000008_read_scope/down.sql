DELETE FROM api_tokens WHERE scope = 'read';
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_scope_known;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_scope_check CHECK (scope IN ('ingest', 'manage'));
