DROP TABLE IF EXISTS webhook_events;
