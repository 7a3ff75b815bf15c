DROP TABLE gamification_settings;
DROP TABLE gamification_history;
DROP TABLE gamification_badges;
DROP TABLE gamification_scores;
DROP TABLE agent_resolutions;
DROP TABLE satisfaction_feedback;
DROP TABLE surveys;
