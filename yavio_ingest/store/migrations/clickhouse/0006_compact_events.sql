-- The events table again, stored compactly (docs/stack.md, "How events are stored compactly",
-- also on what it costs reads). Measured on a real `yavio demo --events 1000000 --days 30`
-- after merges: 38.3 bytes per event (57.4 with the old sorting key and these codecs).
--   * Sorted by day, then session, then time: a session's events, and each trace's within it,
--     lie side by side, so a session id costs a few bits per event instead of a whole random
--     id (17.4 bytes per event before, 1.4 after) and a trace id about once per trace. The
--     day keeps time ranges pruned. Putting the event type before the session keeps it
--     pruned too, but splits each trace's events by type, so a trace id is stored again in
--     every type: 56.7 bytes per event on the same million.
--     event_id last keeps every copy of an event (they differ in ingested_at only) on one
--     sorting key, which is what ReplacingMergeTree collapses.
--   * ZSTD(9) on every column (ClickHouse's default is LZ4): on 100k demo events, 48.8 bytes per event at level 3,
--     47 at level 9, mostly from the JSON and text columns. It costs CPU on insert and merge:
--     about 3 µs more per event inserted than LZ4 (3.0 s against 2.0 s for 300k rows in chdb),
--     next to the 10 µs of parsing it. Time columns as deltas. Types unchanged: every read
--     returns what it returned before.
-- The sorting key of a table cannot change in place, so the rows are copied into a new table
-- which then takes the name `events`. The server runs migrations before it accepts events
-- (and compose's `migrate` service before `ingest` starts), so nothing is written meanwhile;
-- the materialized views follow the name and feed on the new table. Safe to run again after a
-- crash at any step: a leftover events_compact is either a partial copy or, after the exchange,
-- the old table, and `events` is complete in both cases. The new table's TTL takes the
-- retention configured now, like a fresh install.
DROP TABLE IF EXISTS events_compact ${on_cluster};

CREATE TABLE events_compact ${on_cluster}
(
    event_id UUID CODEC(ZSTD(9)),
    event_type LowCardinality(String) CODEC(ZSTD(9)),
    workspace_id UUID CODEC(ZSTD(9)),
    project_id UUID CODEC(ZSTD(9)),
    trace_id String CODEC(ZSTD(9)),
    session_id String CODEC(ZSTD(9)),
    timestamp DateTime64(3, 'UTC') CODEC(Delta, ZSTD(9)),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(9)),
    source LowCardinality(String) CODEC(ZSTD(9)),
    event_name String CODEC(ZSTD(9)),
    user_id String CODEC(ZSTD(9)),
    platform LowCardinality(String) CODEC(ZSTD(9)),
    sdk_version LowCardinality(String) CODEC(ZSTD(9)),
    metadata String CODEC(ZSTD(9)),
    latency_ms Nullable(Float64) CODEC(ZSTD(9)),
    status LowCardinality(String) CODEC(ZSTD(9)),
    error_category LowCardinality(String) CODEC(ZSTD(9)),
    error_message String CODEC(ZSTD(9)),
    is_retry UInt8 CODEC(ZSTD(9)),
    input_keys String CODEC(ZSTD(9)),
    input_types String CODEC(ZSTD(9)),
    input_values String CODEC(ZSTD(9)),
    output_content String CODEC(ZSTD(9)),
    intent_signals String CODEC(ZSTD(9)),
    tokens_in Nullable(UInt32) CODEC(ZSTD(9)),
    tokens_out Nullable(UInt32) CODEC(ZSTD(9)),
    country_code LowCardinality(String) CODEC(ZSTD(9)),
    locale LowCardinality(String) CODEC(ZSTD(9)),
    end_user_agent String CODEC(ZSTD(9)),
    subject_id String CODEC(ZSTD(9)),
    protocol_version LowCardinality(String) CODEC(ZSTD(9)),
    client_name LowCardinality(String) CODEC(ZSTD(9)),
    client_version String CODEC(ZSTD(9)),
    connection_duration_ms Nullable(Float64) CODEC(ZSTD(9)),
    tool_name String CODEC(ZSTD(9)),
    description String CODEC(ZSTD(9)),
    input_schema String CODEC(ZSTD(9)),
    step_sequence Nullable(UInt32) CODEC(ZSTD(9)),
    conversion_value Nullable(Float64) CODEC(ZSTD(9)),
    conversion_currency LowCardinality(String) CODEC(ZSTD(9)),
    user_traits String CODEC(ZSTD(9)),
    viewport_width Nullable(UInt32) CODEC(ZSTD(9)),
    viewport_height Nullable(UInt32) CODEC(ZSTD(9)),
    device_pixel_ratio Nullable(Float32) CODEC(ZSTD(9)),
    device_touch Nullable(UInt8) CODEC(ZSTD(9)),
    connection_type LowCardinality(String) CODEC(ZSTD(9)),
    visible_duration_ms Nullable(Float64) CODEC(ZSTD(9)),
    click_count Nullable(UInt32) CODEC(ZSTD(9)),
    scroll_depth_pct Nullable(Float32) CODEC(ZSTD(9)),
    field_name String CODEC(ZSTD(9)),
    nav_from String CODEC(ZSTD(9)),
    nav_to String CODEC(ZSTD(9)),
    load_time_ms Nullable(Float64) CODEC(ZSTD(9)),
    INDEX idx_trace_id trace_id TYPE bloom_filter GRANULARITY 4,
    INDEX idx_session_id session_id TYPE bloom_filter GRANULARITY 4,
    INDEX idx_user_id user_id TYPE bloom_filter GRANULARITY 4,
    INDEX idx_event_name event_name TYPE bloom_filter GRANULARITY 4
)
ENGINE = ${replacing_engine}
PARTITION BY toYYYYMM(timestamp)
ORDER BY (workspace_id, project_id, toDate(timestamp), session_id, timestamp, event_id)
TTL toDateTime(timestamp) + INTERVAL ${retention_days} DAY;

INSERT INTO events_compact SELECT * FROM events;

EXCHANGE TABLES events AND events_compact ${on_cluster};

DROP TABLE events_compact ${on_cluster};
