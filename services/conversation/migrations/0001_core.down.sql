DROP TABLE activity_logs;
DROP TABLE pending_statuses;
DROP TABLE messages;
DROP TABLE conversations;
DROP TABLE contacts;
DROP TABLE users;
