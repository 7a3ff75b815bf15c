DROP TABLE desk_users;
