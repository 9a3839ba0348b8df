-- leakguard analytics tables on a ClickHouse cluster: the single-node schema of
-- ../migrations/ as of its 0005, split into a replicated table per node (<name>_local) and a
-- Distributed table (<name>) that the sink writes and the dashboards read, so both use the
-- same names on one node and on a cluster.
--
-- The migration runner replaces {cluster} and {database} (LEAKGUARD_CLICKHOUSE__CLUSTER and
-- __DATABASE) before it sends a statement; each server expands {shard} and {replica} from
-- its own <macros>. {ttl ...} becomes a TTL clause on servers that have TTL (19.6 and newer)
-- and nothing on older ones (Debian's 18.16).
--
-- Portable to 18.16 as the single-node DDL is (DateTime plus event_time_ms, no window
-- functions). LowCardinality(String) for the columns with a handful of values (checkpoints,
-- lanes, classes, versions, decisions): 18.16 creates it only with
-- allow_experimental_low_cardinality_type = 1 in the servers' default profile (ON CLUSTER
-- DDL runs under that profile on every node). Nullable and Array columns stay as they are.
--
-- Sort keys put event_time after the filters the dashboards group by (checkpoint, lane), so
-- $__timeFilter reads only the granules of its window. It cannot go into the key of a table
-- whose identity spans events with different times: alerts (a re-sent alert replaces the
-- earlier one) and outcomes (an unreviewed outcome replayed after a restart carries a new
-- expiry time under the same outcome_id). A ReplacingMergeTree collapses rows with equal
-- keys only, so there the key stays the identity alone.
--
-- Each Distributed table shards by a hash of the identity, so the copies of a redelivered
-- event land on the same shard, where FINAL collapses them.
--
-- Retention (TTL): the frame-level tables two years (a year-over-year comparison of a
-- checkpoint), rollouts five (which model judged which frames, for an audit), dead-letter
-- metadata 90 days (the topic keeps the bytes for 30).

CREATE TABLE IF NOT EXISTS {database}.detection_frames_local ON CLUSTER {cluster}
(
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    checkpoint LowCardinality(String),
    lane LowCardinality(String),
    frame_id String,
    model_version LowCardinality(String),
    inference_latency_ms Float64,
    image_width UInt32,
    image_height UInt32,
    object_count UInt32,
    alarmed UInt8
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/detection_frames', '{replica}')
PARTITION BY toYYYYMM(event_time)
ORDER BY (checkpoint, lane, event_time, event_id)
{ttl event_time + INTERVAL 730 DAY};

CREATE TABLE IF NOT EXISTS {database}.detection_frames ON CLUSTER {cluster}
AS {database}.detection_frames_local
ENGINE = Distributed({cluster}, {database}, detection_frames_local, cityHash64(event_id));

CREATE TABLE IF NOT EXISTS {database}.detections_local ON CLUSTER {cluster}
(
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    checkpoint LowCardinality(String),
    lane LowCardinality(String),
    frame_id String,
    model_version LowCardinality(String),
    object_id String,
    class_name LowCardinality(String),
    score Float64,
    x1 Float64,
    y1 Float64,
    x2 Float64,
    y2 Float64,
    alarmed UInt8
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/detections', '{replica}')
PARTITION BY toYYYYMM(event_time)
ORDER BY (checkpoint, lane, event_time, event_id, object_id)
{ttl event_time + INTERVAL 730 DAY};

CREATE TABLE IF NOT EXISTS {database}.detections ON CLUSTER {cluster}
AS {database}.detections_local
ENGINE = Distributed({cluster}, {database}, detections_local, cityHash64(event_id));

CREATE TABLE IF NOT EXISTS {database}.verdicts_local ON CLUSTER {cluster}
(
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    checkpoint LowCardinality(String),
    lane LowCardinality(String),
    frame_id String,
    model_version LowCardinality(String),
    detection_event_id String,
    guard_id String,
    decision LowCardinality(String),
    rejected_objects UInt32,
    missed_items UInt32,
    note Nullable(String),
    response_ms Nullable(Int64),
    reclassified_objects UInt32
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/verdicts', '{replica}')
PARTITION BY toYYYYMM(event_time)
ORDER BY (checkpoint, lane, event_time, event_id)
{ttl event_time + INTERVAL 730 DAY};

CREATE TABLE IF NOT EXISTS {database}.verdicts ON CLUSTER {cluster}
AS {database}.verdicts_local
ENGINE = Distributed({cluster}, {database}, verdicts_local, cityHash64(event_id));

CREATE TABLE IF NOT EXISTS {database}.outcomes_local ON CLUSTER {cluster}
(
    outcome_id String,
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    checkpoint LowCardinality(String),
    lane LowCardinality(String),
    frame_id String,
    model_version LowCardinality(String),
    object_id String,
    kind LowCardinality(String),
    class_name LowCardinality(String),
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/outcomes', '{replica}')
PARTITION BY toYYYYMM(event_time)
ORDER BY (checkpoint, lane, outcome_id)
{ttl event_time + INTERVAL 730 DAY};

CREATE TABLE IF NOT EXISTS {database}.outcomes ON CLUSTER {cluster}
AS {database}.outcomes_local
ENGINE = Distributed({cluster}, {database}, outcomes_local, cityHash64(outcome_id));

CREATE TABLE IF NOT EXISTS {database}.alerts_local ON CLUSTER {cluster}
(
    alert_id String,
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    checkpoint LowCardinality(String),
    lane LowCardinality(String),
    frame_id String,
    model_version LowCardinality(String),
    item_count UInt32,
    classes Array(String),
    max_score Float64,
    guard_id Nullable(String)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/alerts', '{replica}', event_time_ms)
PARTITION BY toYYYYMM(event_time)
ORDER BY (checkpoint, alert_id)
{ttl event_time + INTERVAL 730 DAY};

CREATE TABLE IF NOT EXISTS {database}.alerts ON CLUSTER {cluster}
AS {database}.alerts_local
ENGINE = Distributed({cluster}, {database}, alerts_local, cityHash64(alert_id));

CREATE TABLE IF NOT EXISTS {database}.model_updates_local ON CLUSTER {cluster}
(
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    model_version LowCardinality(String),
    parent_version Nullable(String),
    artifact_uri String,
    sha256 String,
    signing_key_id String,
    rollout_mode LowCardinality(String),
    targets Array(String),
    metric_names Array(String),
    metric_values Array(Float64),
    decided_by Nullable(String),
    reason Nullable(String)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/model_updates', '{replica}')
PARTITION BY toYYYYMM(event_time)
ORDER BY (model_version, event_time, event_id)
{ttl event_time + INTERVAL 1826 DAY};

CREATE TABLE IF NOT EXISTS {database}.model_updates ON CLUSTER {cluster}
AS {database}.model_updates_local
ENGINE = Distributed({cluster}, {database}, model_updates_local, cityHash64(event_id));

CREATE TABLE IF NOT EXISTS {database}.model_status_local ON CLUSTER {cluster}
(
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    checkpoint LowCardinality(String),
    lane Nullable(String),
    worker_id LowCardinality(String),
    model_version LowCardinality(String),
    state LowCardinality(String),
    active_version Nullable(String),
    shadow_version Nullable(String),
    error Nullable(String),
    agreement_rate Nullable(Float64),
    rolled_back UInt8
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/model_status', '{replica}')
PARTITION BY toYYYYMM(event_time)
ORDER BY (checkpoint, event_time, event_id)
{ttl event_time + INTERVAL 1826 DAY};

CREATE TABLE IF NOT EXISTS {database}.model_status ON CLUSTER {cluster}
AS {database}.model_status_local
ENGINE = Distributed({cluster}, {database}, model_status_local, cityHash64(event_id));

-- Metadata only: the original bytes stay on the dead-letter topic.
CREATE TABLE IF NOT EXISTS {database}.dead_letters_local ON CLUSTER {cluster}
(
    event_id String,
    event_time DateTime,
    event_time_ms UInt64,
    source_topic LowCardinality(String),
    source_partition Int32,
    source_offset Int64,
    error_class LowCardinality(String),
    reason String,
    original_bytes UInt64,
    worker_id LowCardinality(String)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/dead_letters', '{replica}')
PARTITION BY toYYYYMM(event_time)
ORDER BY (source_topic, event_time, event_id)
{ttl event_time + INTERVAL 90 DAY};

CREATE TABLE IF NOT EXISTS {database}.dead_letters ON CLUSTER {cluster}
AS {database}.dead_letters_local
ENGINE = Distributed({cluster}, {database}, dead_letters_local, cityHash64(event_id))
