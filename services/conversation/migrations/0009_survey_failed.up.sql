-- nps_gamification sends one survey per conversation while its last one is open (unexpired and
-- not failed, answered or not). A resolution keeps that survey's window instead of opening a
-- new one, so conversation must tell a failed survey (closed, and a new resolution gets a new
-- one) from an answered one (closed, but no new survey until it expires).
--
-- A constant default: PostgreSQL adds the column without rewriting the table, and the previous
-- version, which neither sets nor reads it, keeps working.
ALTER TABLE conversations ADD COLUMN survey_failed boolean NOT NULL DEFAULT false;
