-- Surveys that failed before migration 0009 were closed as answered without a score: mark
-- them failed, so that a resolution within their window starts afresh (nps_gamification sends
-- a new survey) instead of keeping a window nobody will score. Only those few rows change.
UPDATE conversations SET survey_failed = true
 WHERE survey_id IS NOT NULL AND survey_answered AND survey_score IS NULL AND NOT survey_failed;
