"""The health aggregation and the operations endpoint: checks combine into liveness and
readiness with their reasons, a failing or raising check says why, and a real HTTP server
answers /healthz, /livez and /metrics with the right status codes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from leakguard.endpoint import OpsEndpoint
from leakguard.errors import LeakguardError
from leakguard.health import CheckResult, Checks, Health, Heartbeat, cached, writable


def ok(detail: str = "fine") -> CheckResult:
    return CheckResult(True, detail)


def failing(detail: str) -> CheckResult:
    return CheckResult(False, detail)


def test_ready_only_when_alive_and_every_readiness_check_passes() -> None:
    health = Health(Checks(live={"loop": ok}, ready={"broker": ok, "assignment": ok}))
    report = health.report()
    assert (report.live, report.ready, report.status, report.reasons) == (
        True,
        True,
        "ready",
        [],
    )

    health = Health(
        Checks(live={"loop": ok}, ready={"broker": lambda: failing("no answer"), "store": ok})
    )
    report = health.report()
    assert (report.live, report.ready, report.status) == (True, False, "not ready")
    assert report.reasons == ["broker: no answer"]


def test_a_dead_loop_is_neither_live_nor_ready_and_its_reason_comes_first() -> None:
    checks = Checks(live={"loop": lambda: failing("stuck")}, ready={"broker": lambda: failing("x")})
    report = Health(checks).report()
    assert (report.live, report.ready, report.status) == (False, False, "not live")
    assert report.reasons == ["loop: stuck", "broker: x"]


def test_a_check_that_raises_fails_with_its_error_and_long_reasons_are_cut() -> None:
    def broken() -> CheckResult:
        raise RuntimeError("closed")

    report = Health(Checks(ready={"broker": broken, "long": lambda: failing("x" * 5000)})).report()
    assert report.checks["broker"][1] == CheckResult(False, "check failed: RuntimeError: closed")
    assert len(report.checks["long"][1].detail) == 300


def test_json_body_names_every_check() -> None:
    body = Health(Checks(live={"loop": ok}, ready={"broker": lambda: failing("down")})).report()
    assert body.to_json() == {
        "status": "not ready",
        "live": True,
        "ready": False,
        "reasons": ["broker: down"],
        "checks": {
            "loop": {"kind": "live", "ok": True, "detail": "fine"},
            "broker": {"kind": "ready", "ok": False, "detail": "down"},
        },
    }


def test_a_name_used_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="broker"):
        _ = Checks(ready={"broker": ok}) | Checks(ready={"broker": ok})
    with pytest.raises(ValueError, match="loop"):
        Health(Checks(live={"loop": ok})).add(Checks(ready={"loop": ok}))


def test_pending_fails_until_the_real_checks_arrive_and_replace_it() -> None:
    health = Health(Checks(ready={"broker": ok}))
    arrive = health.pending("startup", "loading the model")
    assert health.report().reasons == ["startup: loading the model"]
    arrive(Checks(ready={"model": lambda: ok("serving v1")}))
    report = health.report()
    assert report.ready
    assert set(report.checks) == {"broker", "model"}


def test_heartbeat_is_alive_while_starting_then_while_beating_and_dies_when_silent() -> None:
    now = [100.0]
    beat = Heartbeat(what="loop", max_silence_s=30, clock=lambda: now[0])
    assert beat() == CheckResult(True, "loop starting")
    now[0] = 120.0
    beat.beat()
    now[0] = 125.0
    assert beat() == CheckResult(True, "loop turned 5.0 s ago")
    now[0] = 151.0
    assert beat() == CheckResult(False, "loop silent for 31 s (limit 30 s)")


def test_cached_runs_the_check_once_per_ttl() -> None:
    now = [0.0]
    calls: list[float] = []

    def costly() -> CheckResult:
        calls.append(now[0])
        return ok()

    check = cached(costly, ttl_s=2.0, clock=lambda: now[0])
    check()
    now[0] = 1.9
    check()
    now[0] = 2.0
    check()
    assert calls == [0.0, 2.0]


def test_writable_folder(tmp_path: Path) -> None:
    assert writable(tmp_path / "later" / "created", what="state")().ok
    (tmp_path / "file").write_text("x")
    result = writable(tmp_path / "file", what="state")()
    assert not result.ok
    assert "not a directory" in result.detail
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        assert writable(locked, what="state")().ok is _can_write(locked)
    finally:
        locked.chmod(0o700)


def _can_write(folder: Path) -> bool:
    """False for a read-only folder, unless this runs as root (who writes anyway)."""
    try:
        (folder / "probe").write_text("x")
    except PermissionError:
        return False
    return True


@pytest.fixture
def endpoint() -> Iterator[tuple[OpsEndpoint, list[CheckResult]]]:
    registry = CollectorRegistry()
    Counter("leakguard_test_things", "Things counted", registry=registry).inc(3)
    broker = [ok("1 broker(s) answer")]
    health = Health(Checks(live={"loop": ok}, ready={"broker": lambda: broker[0]}))
    served = OpsEndpoint(port=0, host="127.0.0.1", registry=registry, health=health).start()
    try:
        yield served, broker
    finally:
        served.stop()


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_endpoint_serves_health_with_its_status_and_the_registry(
    endpoint: tuple[OpsEndpoint, list[CheckResult]],
) -> None:
    served, broker = endpoint
    status, body = _get(served.port, "/healthz")
    assert status == 200
    assert json.loads(body)["status"] == "ready"

    broker[0] = failing("broker not reachable: timed out")
    status, body = _get(served.port, "/healthz")
    assert status == 503
    assert json.loads(body)["reasons"] == ["broker: broker not reachable: timed out"]
    status, body = _get(served.port, "/livez")
    assert (status, json.loads(body)["live"]) == (200, True)

    status, body = _get(served.port, "/metrics")
    assert status == 200
    assert b"leakguard_test_things_total 3.0" in body
    assert _get(served.port, "/nothing")[0] == 404


def test_a_taken_port_is_a_clear_error(endpoint: tuple[OpsEndpoint, list[CheckResult]]) -> None:
    taken = endpoint[0].port
    with pytest.raises(LeakguardError, match=f"127.0.0.1:{taken}"):
        OpsEndpoint(port=taken, host="127.0.0.1", registry=CollectorRegistry(), health=Health())
