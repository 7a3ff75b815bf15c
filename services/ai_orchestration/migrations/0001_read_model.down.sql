DROP TABLE outages;
DROP TABLE contacts;
DROP TABLE conversation_threads;
DROP TABLE recent_messages;
DROP TABLE conversations;
