-- Per-lane, per-class, per-hour aggregates for the dashboards.
--
-- Plain views over FINAL, not materialized views: a materialized view sees every inserted
-- block before ReplacingMergeTree has collapsed duplicates, so a redelivered event would be
-- counted twice in a SummingMergeTree forever. A view recomputes from the deduplicated
-- rows, which at checkpoint volumes (thousands of frames per lane per day) is cheap.

CREATE VIEW IF NOT EXISTS frames_hourly AS
SELECT
    toStartOfHour(event_time) AS hour,
    checkpoint,
    lane,
    count() AS frames
FROM frames FINAL
GROUP BY hour, checkpoint, lane;

CREATE VIEW IF NOT EXISTS detections_hourly AS
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
FROM detection_frames FINAL
GROUP BY hour, checkpoint, lane, model_version;

CREATE VIEW IF NOT EXISTS outcomes_hourly AS
SELECT
    toStartOfHour(event_time) AS hour,
    checkpoint,
    lane,
    class_name,
    kind,
    count() AS objects,
    avg(review_time_ms) AS review_time_avg_ms
FROM outcomes FINAL
GROUP BY hour, checkpoint, lane, class_name, kind
