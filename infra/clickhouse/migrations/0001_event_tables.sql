-- leakguard analytics tables: one per analytics topic, rows as the sink maps them
-- (sinks/clickhouse/rows.py). Portable between ClickHouse 18.16 and modern ClickHouse/chdb:
-- DateTime (UTC seconds) plus event_time_ms (UInt64 epoch milliseconds) instead of
-- DateTime64, no LowCardinality, no window functions.
--
-- Exactly once from at-least-once: every table is a ReplacingMergeTree whose ORDER BY key
-- is the event's identity, so a redelivered event collapses into its first copy on merge;
-- queries read with FINAL so duplicates not yet merged never count.

CREATE TABLE IF NOT EXISTS frames
(
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    checkpoint String,
    lane String,
    frame_id String,
    scanner_id String,
    view_id String,
    image_width UInt32,
    image_height UInt32,
    image_size_bytes UInt64,
    image_sha256 String,
    image_inline UInt8,
    ground_truth_objects Nullable(UInt32)
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (checkpoint, lane, event_id);

CREATE TABLE IF NOT EXISTS detection_frames
(
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    checkpoint String,
    lane String,
    frame_id String,
    model_version String,
    inference_latency_ms Float64,
    image_width UInt32,
    image_height UInt32,
    object_count UInt32,
    alarmed UInt8
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (checkpoint, lane, event_id);

CREATE TABLE IF NOT EXISTS detections
(
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    checkpoint String,
    lane String,
    frame_id String,
    model_version String,
    object_id String,
    class_name String,
    score Float64,
    x1 Float64,
    y1 Float64,
    x2 Float64,
    y2 Float64,
    alarmed UInt8
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (checkpoint, lane, event_id, object_id);

CREATE TABLE IF NOT EXISTS verdicts
(
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    checkpoint String,
    lane String,
    frame_id String,
    model_version String,
    detection_event_id String,
    guard_id String,
    decision String,
    rejected_objects UInt32,
    missed_items UInt32,
    note Nullable(String)
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (checkpoint, lane, event_id);

-- Deduplicated on outcome_id, not event_id: a replayed outcome join emits new events with
-- the same deterministic outcome_id (schemas.outcome_id).
CREATE TABLE IF NOT EXISTS outcomes
(
    outcome_id String,
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    checkpoint String,
    lane String,
    frame_id String,
    model_version String,
    object_id String,
    kind String,
    class_name String,
    score Nullable(Float64),
    x1 Float64,
    y1 Float64,
    x2 Float64,
    y2 Float64,
    guard_id Nullable(String),
    detection_event_id String,
    verdict_event_id Nullable(String),
    review_time_ms Nullable(Int64)
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (checkpoint, lane, outcome_id);

-- Deduplicated on alert_id, keeping the latest event: a re-sent alert (e.g. once a guard
-- confirmed it) replaces the earlier state.
CREATE TABLE IF NOT EXISTS alerts
(
    alert_id String,
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    checkpoint String,
    lane String,
    frame_id String,
    model_version String,
    item_count UInt32,
    classes Array(String),
    max_score Float64,
    guard_id Nullable(String)
)
ENGINE = ReplacingMergeTree(event_time_ms)
PARTITION BY toYYYYMM(event_time)
ORDER BY (checkpoint, alert_id);

CREATE TABLE IF NOT EXISTS model_updates
(
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    model_version String,
    parent_version Nullable(String),
    artifact_uri String,
    sha256 String,
    signing_key_id String,
    rollout_mode String,
    targets Array(String),
    metric_names Array(String),
    metric_values Array(Float64)
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (model_version, event_id);

CREATE TABLE IF NOT EXISTS model_status
(
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    checkpoint String,
    lane Nullable(String),
    worker_id String,
    model_version String,
    state String,
    active_version Nullable(String),
    shadow_version Nullable(String),
    error Nullable(String),
    agreement_rate Nullable(Float64)
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (checkpoint, event_id);

-- Metadata only: the original bytes stay on the dead-letter topic.
CREATE TABLE IF NOT EXISTS dead_letters
(
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    source_topic String,
    source_partition Int32,
    source_offset Int64,
    error_class String,
    reason String,
    original_bytes UInt64,
    worker_id String
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (source_topic, event_id)
