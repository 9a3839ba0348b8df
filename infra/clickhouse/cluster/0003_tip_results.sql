-- Threat image projection results (#20): the cluster's copy of migrations/0006_tip_results.sql.
CREATE TABLE IF NOT EXISTS {database}.tip_results_local ON CLUSTER {cluster}
(
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    checkpoint LowCardinality(String),
    lane LowCardinality(String),
    frame_id String,
    projection_id String,
    model_version LowCardinality(String),
    class_name LowCardinality(String),
    x1 Float64,
    y1 Float64,
    x2 Float64,
    y2 Float64,
    result LowCardinality(String),
    detector_alarmed UInt8,
    guard_id Nullable(String),
    detection_event_id String,
    verdict_event_id Nullable(String),
    response_ms Nullable(Int64)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/tip_results', '{replica}')
PARTITION BY toYYYYMM(event_time)
ORDER BY (checkpoint, lane, event_time, event_id)
{ttl event_time + INTERVAL 730 DAY};

CREATE TABLE IF NOT EXISTS {database}.tip_results ON CLUSTER {cluster}
AS {database}.tip_results_local
ENGINE = Distributed({cluster}, {database}, tip_results_local, cityHash64(event_id))
