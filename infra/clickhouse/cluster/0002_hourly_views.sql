-- The hourly views of ../migrations/0002 as they stand after its 0004 (no frames_hourly),
-- on every node, over the Distributed tables: plain views over FINAL for the reason given
-- there (a materialized view would count a redelivered event twice).

CREATE VIEW IF NOT EXISTS {database}.detections_hourly ON CLUSTER {cluster} AS
SELECT
    toStartOfHour(event_time) AS hour,
    checkpoint,
    lane,
    model_version,
    count() AS frames,
    countIf(alarmed = 1) AS alarmed_frames,
    sum(object_count) AS objects,
    quantile(0.5)(inference_latency_ms) AS latency_p50_ms,
    quantile(0.95)(inference_latency_ms) AS latency_p95_ms
FROM {database}.detection_frames FINAL
GROUP BY hour, checkpoint, lane, model_version;

CREATE VIEW IF NOT EXISTS {database}.outcomes_hourly ON CLUSTER {cluster} AS
SELECT
    toStartOfHour(event_time) AS hour,
    checkpoint,
    lane,
    class_name,
    kind,
    count() AS objects,
    avg(review_time_ms) AS review_time_avg_ms
FROM {database}.outcomes FINAL
GROUP BY hour, checkpoint, lane, class_name, kind
