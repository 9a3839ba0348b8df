"""The worker fuzz run (``bench/fuzz_workers.py``, security issue #21) at a small size, so CI
proves the harness still works: real edge, cloud, sink and alert delivery processes on a
broker of their own, 50 hostile events per input topic with valid ones among and after them.
The full run (1,000 per topic) is by hand; its result is in docs/streams.md."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from bench.fuzz_workers import report_tables, run_fuzz

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EVENTS = 50
DEADLINE_S = 120.0


def test_hostile_events_cost_no_worker_and_no_valid_event(tmp_path: Path) -> None:
    work = tmp_path / "fuzz"
    work.mkdir()
    report = run_fuzz(events=EVENTS, work=work, deadline_s=DEADLINE_S)

    console = Console(width=120, record=True)
    for table in report_tables(report):
        console.print(table)
    logs = "\n".join(
        f"{p.name}:\n{p.read_text(errors='replace')[-2000:]}" for p in work.glob("*.log")
    )
    assert report.ok, f"{console.export_text()}\n{report.leaks}\n{logs}"

    workers = {w.name: w for w in report.workers}
    assert set(workers) == {"edge", "cloud", "alerts", "sink"}
    for worker in workers.values():
        assert all(sent >= EVENTS for sent in worker.hostile_sent.values()), worker.name
        assert worker.valid_in > 0, worker.name
        assert worker.valid_out == worker.valid_in, worker.name
    # The hostile frames and join events are refused one by one, not silently dropped.
    assert workers["edge"].dead_letters["scanner.frames"] > 0
    assert workers["cloud"].dead_letters["detections"] > 0
    assert workers["cloud"].dead_letters["guard.verdicts"] > 0
