-- Release v3 (schemas/history/v3): a Detection links to the image its edge staged, and the
-- sink no longer consumes scanner.frames, whose messages carry whole images. A frame is
-- counted once the detector has processed it (detection_frames; detections_hourly has the
-- per-hour count); a frame it rejected is a row of dead_letters. The scanner-level table
-- and its hourly view go: nothing writes them any more.
--
-- DROP TABLE rather than DROP VIEW: ClickHouse 18.16 drops views with DROP TABLE.

DROP TABLE IF EXISTS frames_hourly;

DROP TABLE IF EXISTS frames
