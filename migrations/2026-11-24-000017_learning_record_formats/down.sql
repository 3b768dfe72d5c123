UPDATE deliveries SET dead_reason = 'receiver_4xx' WHERE dead_reason IN ('unmappable', 'caliper_data_version');
ALTER TABLE deliveries DROP CONSTRAINT deliveries_dead_reason_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_dead_reason_check
    CHECK (dead_reason IN ('receiver_4xx', 'retries_exhausted', 'refused_target', 'webhook_disabled', 'test'));
UPDATE delivery_attempts SET error_kind = 'io' WHERE error_kind = 'unmappable';
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_error_kind_check;
ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_error_kind_check
    CHECK (error_kind IN ('dns', 'connect', 'tls', 'timeout', 'http', 'refused_target', 'io', 'worker_lost'));

-- Events of the generic types and what points at them go with the types.
DELETE FROM webhook_events WHERE event_type IN ('xapi.statement', 'caliper.event');
DELETE FROM delivery_events WHERE event_id IN (SELECT id FROM events WHERE event_type IN ('xapi.statement', 'caliper.event'));
DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_type IN ('xapi.statement', 'caliper.event'));
DELETE FROM deliveries WHERE event_type IN ('xapi.statement', 'caliper.event');
DELETE FROM events WHERE event_type IN ('xapi.statement', 'caliper.event');
DELETE FROM event_types WHERE name IN ('xapi.statement', 'caliper.event');

ALTER TABLE webhooks
    DROP CONSTRAINT webhooks_standards_settings_check,
    DROP COLUMN activity_base_iri,
    DROP COLUMN actor_home_page,
    DROP COLUMN payload_format;
