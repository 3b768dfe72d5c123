-- The masked values stay masked: what was hidden cannot be restored.
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_authorization_masked;
