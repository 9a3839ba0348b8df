-- Release v2 (schemas/history/v2): the guard's response time (alarm shown to verdict,
-- measured by the console page) and how many confirmed alarms the guard reclassified; and
-- whether an edge rolled a model back on its live rates (ModelStatus.rolled_back). The
-- corrected classes themselves land in outcomes.class_name; the detector's stay in
-- detections.class_name.
--
-- Portable to ClickHouse 18.16, which has no ADD COLUMN IF NOT EXISTS: one column per
-- statement, and the migration runner skips a statement whose column exists already, so a
-- migration cut off half-way is simply applied again. Rows written before this migration
-- read NULL (no response time measured) and 0 (no class corrected, no rollback), as v1 means.

ALTER TABLE verdicts ADD COLUMN response_ms Nullable(Int64);

ALTER TABLE verdicts ADD COLUMN reclassified_objects UInt32;

ALTER TABLE model_status ADD COLUMN rolled_back UInt8
