-- Aggregates per session, per user and per tool per hour. Every column is an aggregate state
-- (AggregateFunction or SimpleAggregateFunction), so background merges combine partial rows
-- correctly however the events were split into blocks. A plain count() column here would be
-- merged as "any value", which under-counts after a merge.
CREATE TABLE IF NOT EXISTS session_stats ${on_cluster}
(
    workspace_id UUID,
    project_id UUID,
    session_id String,
    first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    events AggregateFunction(count),
    tool_calls SimpleAggregateFunction(sum, UInt64),
    errors SimpleAggregateFunction(sum, UInt64),
    conversions SimpleAggregateFunction(sum, UInt64),
    revenue SimpleAggregateFunction(sum, Float64),
    traces AggregateFunction(uniqExact, String),
    user_id SimpleAggregateFunction(max, String),
    platform SimpleAggregateFunction(max, String)
)
ENGINE = ${aggregating_engine}
ORDER BY (workspace_id, project_id, session_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS session_stats_mv ${on_cluster} TO session_stats AS
SELECT
    workspace_id,
    project_id,
    session_id,
    min(timestamp) AS first_seen,
    max(timestamp) AS last_seen,
    countState() AS events,
    toUInt64(countIf(event_type = 'tool_call')) AS tool_calls,
    toUInt64(countIf(status = 'error')) AS errors,
    toUInt64(countIf(event_type = 'conversion')) AS conversions,
    sumIf(ifNull(conversion_value, 0), event_type = 'conversion') AS revenue,
    uniqExactState(trace_id) AS traces,
    max(user_id) AS user_id,
    max(toString(platform)) AS platform
FROM events
GROUP BY workspace_id, project_id, session_id;

CREATE TABLE IF NOT EXISTS user_stats ${on_cluster}
(
    workspace_id UUID,
    project_id UUID,
    user_id String,
    first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    events AggregateFunction(count),
    sessions AggregateFunction(uniqExact, String),
    conversions SimpleAggregateFunction(sum, UInt64),
    revenue SimpleAggregateFunction(sum, Float64)
)
ENGINE = ${aggregating_engine}
ORDER BY (workspace_id, project_id, user_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS user_stats_mv ${on_cluster} TO user_stats AS
SELECT
    workspace_id,
    project_id,
    user_id,
    min(timestamp) AS first_seen,
    max(timestamp) AS last_seen,
    countState() AS events,
    uniqExactState(session_id) AS sessions,
    toUInt64(countIf(event_type = 'conversion')) AS conversions,
    sumIf(ifNull(conversion_value, 0), event_type = 'conversion') AS revenue
FROM events
WHERE user_id != ''
GROUP BY workspace_id, project_id, user_id;

CREATE TABLE IF NOT EXISTS tool_hourly ${on_cluster}
(
    workspace_id UUID,
    project_id UUID,
    tool String,
    platform LowCardinality(String),
    hour DateTime('UTC'),
    calls AggregateFunction(count),
    errors SimpleAggregateFunction(sum, UInt64),
    latency_sum SimpleAggregateFunction(sum, Float64),
    latency_quantiles AggregateFunction(quantiles(0.5, 0.95, 0.99), Float64)
)
ENGINE = ${aggregating_engine}
ORDER BY (workspace_id, project_id, tool, platform, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS tool_hourly_mv ${on_cluster} TO tool_hourly AS
SELECT
    workspace_id,
    project_id,
    event_name AS tool,
    platform,
    toStartOfHour(timestamp) AS hour,
    countState() AS calls,
    toUInt64(countIf(status = 'error')) AS errors,
    sum(ifNull(latency_ms, 0)) AS latency_sum,
    quantilesState(0.5, 0.95, 0.99)(ifNull(latency_ms, 0)) AS latency_quantiles
FROM events
WHERE event_type = 'tool_call'
GROUP BY workspace_id, project_id, tool, platform, hour;
