DROP TABLE webhook_headers;
DROP TABLE webhook_events;
DROP TABLE webhooks;
