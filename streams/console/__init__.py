"""The guard console and the managers' overview page, served by the edge role.

A guard signs in, sees the live scan of their lane with the detector's boxes, and answers
each alarm: confirm, clear an object as a false alarm, or mark a missed item. Every answer
becomes one ``GuardVerdict`` on ``guard.verdicts``, attributed to the signed-in guard. The
server keeps the review queue (SQLite under the data dir) so a page reload or a restart
loses nothing; the overview page runs the Grafana panels' own SQL.

Modules: ``accounts`` (guard accounts, argon2 hashes), ``sessions`` (signed, expiring
session cookies and CSRF tokens), ``verdicts`` (a guard's actions -> ``GuardVerdict``),
``review_queue`` (the persisted queue), ``feed`` (Kafka -> queue), ``publisher`` (verdicts
-> Kafka), ``overview`` (panel queries), ``services`` / ``auth`` / ``pages`` / ``api`` /
``app`` (the FastAPI application), ``server`` (uvicorn, signals, the in-process sink) and
``cli`` (``leakguard console``).
"""
