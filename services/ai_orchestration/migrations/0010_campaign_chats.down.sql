-- A debtor's answer starts with apresentacao again, as before the table.
DROP TABLE campaign_chats;
