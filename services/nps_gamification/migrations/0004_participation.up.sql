-- Whether a desk user takes part in the monthly ranking (the seed's
-- participatesInGamification, users.v1's participates_in_gamification): the ranking leaves out
-- the agents who don't. Until users.v1 carried it nobody could be left out, so true fits every
-- row kept before.
ALTER TABLE desk_users ADD COLUMN participates_in_gamification boolean NOT NULL DEFAULT true;
