DROP INDEX message_attempts_open_idx;
