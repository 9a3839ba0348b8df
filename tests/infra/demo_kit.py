"""The real ``leakguard demo`` for the tests that run it (tests/infra/test_demo.py on the
embedded broker, tests/streams/test_kafka_tls.py against a TLS cluster): its command line,
arguments a loaded 2-core machine can run, and the checks of a finished run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from infra.processes import free_port, process_alive

#: The demo's own command line (this interpreter, no PATH lookup).
DEMO = (sys.executable, "-m", "infra", "demo")


def free_port_pair() -> int:
    """A free port whose neighbour is free too: the demo's two consoles take both."""
    for _ in range(20):
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two free neighbouring ports")


def tiny_env() -> dict[str, str]:
    """This test's environment (its data dir); one torch thread suits the tiny model on a
    busy machine (docs/streams.md)."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def demo_args(tiny_artifact: Path) -> list[str]:
    """A demo a loaded 2-core machine can run: the tiny model (an alarm on every frame; its
    128 px input is the frame size), quick guards who confirm some false alarms (TP and
    alerts), a deadline some answers miss (unreviewed)."""
    return [
        "--model", str(tiny_artifact), "--rate", "1",
        "--guard-delay", "3", "--review-deadline", "4", "--guard-mistake-rate", "0.3",
        "--guard-miss-rate", "0", "--port", str(free_port_pair()),
    ]  # fmt: skip


#: Counts of the analytics store, read in a child process (chdb allows one store per process).
_CHDB_COUNTS = """
import json, sys
from chdb import session
queries = {
    "detected": "SELECT count(DISTINCT frame_id) FROM leakguard.detection_frames",
    "alerts": "SELECT count(DISTINCT alert_id) FROM leakguard.alerts",
    "tp": "SELECT count(DISTINCT outcome_id) FROM leakguard.outcomes WHERE kind = 'tp'",
    "unreviewed": "SELECT count(DISTINCT outcome_id) FROM leakguard.outcomes "
    "WHERE kind = 'unreviewed'",
}
store = session.Session(sys.argv[1])
print(json.dumps({k: int(store.query(q, "CSV").bytes()) for k, q in queries.items()}))
store.close()
"""


def chdb_counts(path: Path) -> dict[str, int]:
    """Distinct frames, alerts, TP and unreviewed outcomes the demo's sink stored."""
    result = subprocess.run(
        [sys.executable, "-c", _CHDB_COUNTS, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    counts: dict[str, int] = json.loads(result.stdout.strip().splitlines()[-1])
    return counts


def assert_all_gone(pids: dict[str, int]) -> None:
    """No process the demo started outlived it."""
    alive = {name: pid for name, pid in pids.items() if process_alive(pid)}
    assert not alive, f"left behind: {alive}"


def assert_every_part_of_the_loop(data_dir: Path, output: str) -> dict[str, Any]:
    """A finished demo showed every part of the loop: frames of every lane detected, every
    kind of outcome, alerts, annotation tasks the auto-labeller labelled, no child left
    running, and the summary (read from Kafka) equal to what the console's sink stored in
    chdb. Returns the summary."""
    summary: dict[str, Any] = json.loads((data_dir / "demo" / "summary.json").read_text())
    lanes = {(lane["checkpoint"], lane["lane"]): lane for lane in summary["lanes"]}
    assert set(lanes) == {("gate-1", "1"), ("gate-1", "2"), ("gate-2", "1"), ("gate-2", "2")}
    assert all(lane["detected"] > 0 for lane in lanes.values()), summary
    assert summary["alarms"] > 0
    assert all(count > 0 for count in summary["outcomes"].values()), summary["outcomes"]
    assert summary["alerts"] > 0
    assert summary["latency_p95_s"] >= summary["latency_p50_s"] > 0
    assert summary["tasks"] > 0  # the guards rejected false alarms ...
    assert summary["annotations"] > 0  # ... and the auto-labeller labelled them
    assert {"cloud", "edge-1", "annotate", "guards", "console-gate-1"} <= set(summary["pids"])
    assert_all_gone(summary["pids"])
    stored = chdb_counts(data_dir / "demo" / "chdb")
    assert stored == {
        "detected": summary["detected"],
        "alerts": summary["alerts"],
        "tp": summary["outcomes"]["tp"],
        "unreviewed": summary["outcomes"]["unreviewed"],
    }
    assert "final summary" in output
    assert "UNREVIEWED" in output
    assert "sign in as demo" in output
    assert (data_dir / "demo" / "logs" / "edge-1.log").is_file()
    return summary
