-- Tokens that may only read the management API.
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_scope_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_scope_known CHECK (scope IN ('ingest', 'manage', 'read'));
