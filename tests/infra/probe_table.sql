CREATE TABLE IF NOT EXISTS probe
(
    event_id String,
    version UInt32,
    event_time DateTime
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(event_time)
ORDER BY event_id
