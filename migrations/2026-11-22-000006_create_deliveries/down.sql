DROP TRIGGER webhook_events_config_changed ON webhook_events;
DROP TRIGGER webhooks_config_changed ON webhooks;
DROP FUNCTION herald_bump_webhook_config_version();
DROP TABLE webhook_config_version;
DROP TABLE delivery_attempts;
DROP TABLE delivery_events;
DROP TABLE deliveries;
DROP TABLE events;
