-- Attempts recorded before the masking rule showed the first word of any Authorization value
-- with a space (`APIKEY123 ••••••••`), which may be part of the secret. Keep only what the
-- current rule keeps (a known scheme word, or Basic with its username) and mask the rest whole.
UPDATE delivery_attempts
SET request_headers = jsonb_set(request_headers, '{authorization}', to_jsonb('••••••••'::text))
WHERE request_headers->>'authorization' IS NOT NULL
  AND request_headers->>'authorization' <> '••••••••'
  AND request_headers->>'authorization' !~* '^(Basic|Bearer|Digest|DPoP|Negotiate|NTLM|OAuth|Token|ApiKey) ••••••••$'
  AND request_headers->>'authorization' !~ '^Basic •••••••• \(user .*\)$';

-- The history never stores an Authorization value without its mask.
ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_authorization_masked
    CHECK (request_headers->>'authorization' IS NULL
           OR strpos(request_headers->>'authorization', '••••••••') > 0);
