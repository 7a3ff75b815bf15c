DROP TABLE announcements;
DROP TABLE failure_notifications;
DROP TABLE massive_failures;
