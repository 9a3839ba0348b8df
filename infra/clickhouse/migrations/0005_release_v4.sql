-- Release v4 (schemas/history/v4): who or what took each rollout step (the gate, an
-- operator, an edge's rollback) and why, for the managers' view of a rollout. Rows written
-- before it read NULL, as a v3 update means.

ALTER TABLE model_updates ADD COLUMN decided_by Nullable(String);

ALTER TABLE model_updates ADD COLUMN reason Nullable(String)
