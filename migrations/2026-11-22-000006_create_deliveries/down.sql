DROP TABLE delivery_attempts;
DROP TABLE delivery_events;
DROP TABLE deliveries;
DROP TABLE events;
