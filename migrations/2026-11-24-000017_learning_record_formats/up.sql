-- Payload formats per webhook (Herald JSON, xAPI statements, Caliper 1.1 / 1.2 envelopes),
-- the settings the standards need, the generic types of incoming learning records, and the
-- new ways a delivery can end.
ALTER TABLE webhooks
    ADD COLUMN payload_format TEXT NOT NULL DEFAULT 'herald'
        CONSTRAINT webhooks_payload_format_check
        CHECK (payload_format IN ('herald', 'xapi', 'caliper_1_1', 'caliper_1_2')),
    ADD COLUMN actor_home_page TEXT,
    ADD COLUMN activity_base_iri TEXT,
    ADD CONSTRAINT webhooks_standards_settings_check
        CHECK (payload_format = 'herald' OR (actor_home_page IS NOT NULL AND activity_base_iri IS NOT NULL));

INSERT INTO event_types (name, category, description, example_payload) VALUES
('xapi.statement', 'Learning records', 'An xAPI statement posted to /xapi/statements whose verb maps to no other type; the statement is kept as it came.',
 '{"user": {"email": "amara.okafor@example.com", "name": "Amara Okafor"}, "learning_record": {"standard": "xapi", "record": {"id": "2b4c1e9a-6f0d-4a47-9d8e-0c1b2a3d4e5f", "actor": {"objectType": "Agent", "name": "Amara Okafor", "mbox": "mailto:amara.okafor@example.com"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced", "display": {"en-US": "experienced"}}, "object": {"objectType": "Activity", "id": "https://academy.example.com/xapi/videos/intro-privacy", "definition": {"name": {"en-US": "Introduction to privacy (video)"}}}, "timestamp": "2026-11-04T15:10:00Z"}}}'),
('caliper.event', 'Learning records', 'A Caliper event posted to /caliper that maps to no other type; the event is kept as it came.',
 '{"user": {"id": "https://academy.example.com/users/4279332"}, "learning_record": {"standard": "caliper", "record": {"@context": "http://purl.imsglobal.org/ctx/caliper/v1p1", "id": "urn:uuid:7e10e4f3-a0d8-4430-95bd-783ffae4d916", "type": "ToolUseEvent", "actor": {"id": "https://academy.example.com/users/4279332", "type": "Person"}, "action": "Used", "object": {"id": "https://academy.example.com", "type": "SoftwareApplication"}, "eventTime": "2026-11-04T15:00:00.000Z"}}}');

ALTER TABLE deliveries DROP CONSTRAINT deliveries_dead_reason_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_dead_reason_check
    CHECK (dead_reason IN ('receiver_4xx', 'retries_exhausted', 'refused_target', 'webhook_disabled', 'test', 'unmappable', 'caliper_data_version'));
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_error_kind_check;
ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_error_kind_check
    CHECK (error_kind IN ('dns', 'connect', 'tls', 'timeout', 'http', 'refused_target', 'io', 'worker_lost', 'unmappable'));
