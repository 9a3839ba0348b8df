"""The audit log: sign-ins (right or wrong, throttled, with the address, never the password),
sign-outs and verdicts, one JSON object per line, appended by every console of a data dir."""

from __future__ import annotations

import json
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from streams.console.audit import AuditLog
from tests.streams.console.conftest import PASSWORD, Console, sign_in
from tests.streams.console.helpers import png, two_alarms


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _sign_in_with(client: TestClient, guard: str, password: str) -> int:
    form = client.get("/login")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    data = {"guard": guard, "password": password, "lane": "1", "csrf_token": token}
    return client.post("/login", data=data).status_code


def test_sign_ins_sign_outs_and_verdicts_are_audited(console: Console) -> None:
    console.services.queue.add_detection(two_alarms("f1"), image=png())
    (item,) = console.services.queue.pending(["1"])
    assert _sign_in_with(console.client, "ana", "wrong password 1") == 401
    csrf = sign_in(console.client, "ana")
    answer = console.client.post(
        f"/api/frames/{item.id}/verdict",
        json={"rejected_object_ids": ["o1", "o2"]},
        headers={"X-CSRF-Token": csrf},
    )
    assert answer.status_code == 200
    assert console.client.post("/logout", data={"csrf_token": csrf}).status_code == 303

    records = _records(console.audit_path)
    assert [(r["event"], r.get("outcome")) for r in records] == [
        ("sign-in", "refused"),
        ("sign-in", "ok"),
        ("verdict", None),
        ("sign-out", None),
    ]
    for record in records:
        assert record["checkpoint"] == "hq"
        assert record["guard"] == "ana"
        assert record["time"].startswith("2027-01-15T")  # the test clock, in UTC
    assert records[0]["address"] == records[1]["address"] == "testclient"
    assert records[2] | {"time": None} == {
        "time": None,
        "event": "verdict",
        "checkpoint": "hq",
        "guard": "ana",
        "lane": "1",
        "frame_id": "f1",
        "decision": "cleared",
        "verdict_id": answer.json()["verdict_id"],
    }
    text = console.audit_path.read_text()
    assert "wrong password 1" not in text
    assert PASSWORD not in text
    assert stat.S_IMODE(console.audit_path.stat().st_mode) == 0o600


def test_throttled_and_expired_form_sign_ins_are_audited(console: Console) -> None:
    for n in range(4):
        _sign_in_with(console.client, "ana", f"guess {n}")
    console.client.post(
        "/login", data={"guard": "ana", "password": "x", "lane": "1", "csrf_token": "forged"}
    )
    outcomes = [r["outcome"] for r in _records(console.audit_path)]
    assert outcomes == ["refused", "refused", "refused", "throttled", "expired-form"]


def test_a_name_cannot_forge_an_audit_line(console: Console) -> None:
    forged = 'x", "outcome": "ok"}\n{"event": "sign-in", "guard": "ana'
    assert _sign_in_with(console.client, forged, "guess") == 401
    (record,) = _records(console.audit_path)
    assert record["guard"] == forged
    assert record["outcome"] == "refused"


def test_consoles_of_one_data_dir_append_whole_lines_to_one_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    logs = [AuditLog(path, checkpoint=checkpoint) for checkpoint in ("hq", "lab")]

    def write(n: int) -> None:
        logs[n % 2].sign_in(guard=f"g{n}", lane="1", address="10.0.0.1", outcome="ok")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(400)))
    records = _records(path)
    assert sorted(int(r["guard"][1:]) for r in records) == list(range(400))
    assert {r["checkpoint"] for r in records} == {"hq", "lab"}
