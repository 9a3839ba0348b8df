-- Threat image projection results (#20, schemas/history/v7): one row per TIP frame, how its
-- guard answered. Deduplicated on event_id, which is the projection id: a replayed join
-- yields the same id. TIP frames write no detection, outcome or alert rows, so this is the
-- only place they appear.
CREATE TABLE IF NOT EXISTS tip_results
(
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    checkpoint String,
    lane String,
    frame_id String,
    projection_id String,
    model_version String,
    class_name String,
    x1 Float64,
    y1 Float64,
    x2 Float64,
    y2 Float64,
    result String,
    detector_alarmed UInt8,
    guard_id Nullable(String),
    detection_event_id String,
    verdict_event_id Nullable(String),
    response_ms Nullable(Int64)
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (checkpoint, lane, event_id)
