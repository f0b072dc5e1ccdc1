-- Which process runs a run, and when it last showed it was alive: a run killed by kill -9, a timeout or a lost
-- machine is marked `interrupted` by the next run instead of staying `running` forever.
ALTER TABLE runs ADD COLUMN pid INTEGER;
ALTER TABLE runs ADD COLUMN host VARCHAR;
ALTER TABLE runs ADD COLUMN heartbeat_at TIMESTAMP;
