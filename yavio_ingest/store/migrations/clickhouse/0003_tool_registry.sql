-- The registered tools of each project, fed by tool_discovery events that name a tool.
-- ReplacingMergeTree keyed by registered_at: the latest registration of a tool wins.
CREATE TABLE IF NOT EXISTS tool_registry ${on_cluster}
(
    workspace_id UUID,
    project_id UUID,
    tool_name String,
    description String,
    input_schema String,
    registered_at DateTime64(3, 'UTC')
)
ENGINE = ${registry_engine}
ORDER BY (workspace_id, project_id, tool_name);

CREATE MATERIALIZED VIEW IF NOT EXISTS tool_registry_mv ${on_cluster} TO tool_registry AS
SELECT workspace_id, project_id, tool_name, description, input_schema, timestamp AS registered_at
FROM events
WHERE event_type = 'tool_discovery' AND tool_name != '';
