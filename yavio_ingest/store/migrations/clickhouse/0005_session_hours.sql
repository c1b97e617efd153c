-- Which sessions and users had events in which UTC hour, per platform, with their first and
-- last event in it: the sessions views and the users view's cut days read these rows (about
-- one per session) instead of every event of the range, and only the hours that a range's
-- boundary cuts from the events. Duplicate-proof: a copy of an event repeats a key and leaves
-- a minimum and a maximum as they were, so readers group by the key (never trusting merges)
-- and get the same answer with or without copies. `rebuild_aggregates` re-derives the keys a
-- replayed block touches, like the other aggregates. The TTL keeps an hour one hour past its
-- events' retention, so an hour is never dropped while its last events may still be there.
CREATE TABLE IF NOT EXISTS session_hours ${on_cluster}
(
    workspace_id UUID,
    project_id UUID,
    hour DateTime('UTC'),
    platform LowCardinality(String),
    session_id String,
    user_id String,
    first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = ${aggregating_engine}
PARTITION BY toYYYYMM(hour)
ORDER BY (workspace_id, project_id, hour, platform, session_id, user_id)
TTL hour + INTERVAL ${retention_days} DAY + INTERVAL 1 HOUR;

CREATE MATERIALIZED VIEW IF NOT EXISTS session_hours_mv ${on_cluster} TO session_hours AS
SELECT workspace_id, project_id, toStartOfHour(timestamp) AS hour, platform, session_id,
       user_id, min(timestamp) AS first_seen, max(timestamp) AS last_seen
FROM events
GROUP BY workspace_id, project_id, hour, platform, session_id, user_id;

-- The events stored before this migration (the view only sees new inserts). Run after the view
-- exists, so an event inserted meanwhile is at worst in both: a repeated key, harmless here.
INSERT INTO session_hours (workspace_id, project_id, hour, platform, session_id, user_id,
                           first_seen, last_seen)
SELECT workspace_id, project_id, toStartOfHour(timestamp) AS hour, platform, session_id,
       user_id, min(timestamp), max(timestamp)
FROM events
GROUP BY workspace_id, project_id, hour, platform, session_id, user_id;

-- The users view's history reads these rows now (as fast as the per-day rows it replaces, and
-- exact at any boundary): nothing reads user_days any more.
DROP VIEW IF EXISTS user_days_mv ${on_cluster};
DROP TABLE IF EXISTS user_days ${on_cluster};
