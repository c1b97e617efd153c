-- Who was active on which UTC day, per platform: the users view's history (DAU/WAU/MAU, new vs
-- returning, retention) reads these few rows per user and day instead of a month of events.
-- Presence only, so it is duplicate-proof: a copy of an event (a replay, a racing retry) adds a
-- row with a key that exists already, which readers collapse with GROUP BY/DISTINCT on the key
-- (never trusting merges) and ReplacingMergeTree drops at some merge. `rebuild_aggregates`
-- still re-derives the keys a replayed block touches, like the other aggregates: a crash
-- between the events' part and this view's part would otherwise leave those days missing.
-- The TTL keeps a day one day past the events' retention: a day's last events expire up to a
-- day after its midnight, so a day is never dropped while its events may still be there.
CREATE TABLE IF NOT EXISTS user_days ${on_cluster}
(
    workspace_id UUID,
    project_id UUID,
    day Date,
    platform LowCardinality(String),
    user_id String
)
ENGINE = ${replacing_engine}
PARTITION BY toYYYYMM(day)
ORDER BY (workspace_id, project_id, day, platform, user_id)
TTL day + INTERVAL ${retention_days} + 1 DAY;

-- GROUP BY the key: one row per key and insert block, not one per event.
CREATE MATERIALIZED VIEW IF NOT EXISTS user_days_mv ${on_cluster} TO user_days AS
SELECT workspace_id, project_id, toDate(timestamp) AS day, platform, user_id
FROM events
WHERE user_id != ''
GROUP BY workspace_id, project_id, day, platform, user_id;

-- The events stored before this migration (the view only sees new inserts). Run after the view
-- exists, so an event inserted meanwhile is at worst in both: a duplicate key, harmless here.
INSERT INTO user_days (workspace_id, project_id, day, platform, user_id)
SELECT workspace_id, project_id, toDate(timestamp) AS day, platform, user_id
FROM events
WHERE user_id != ''
GROUP BY workspace_id, project_id, day, platform, user_id;
