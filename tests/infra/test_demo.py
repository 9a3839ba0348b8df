"""``leakguard demo``: options, the plan of child processes, the environment and
the guard account, and the real demo on its embedded broker (Ctrl-C, a dead worker). A whole
run with every part of the loop runs against a TLS cluster (tests/streams/test_kafka_tls.py);
the summary and the child processes have their own files (test_demo_summary,
test_demo_children)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from infra.demo.children import ChildSpec
from infra.demo.plan import (
    ARTIFACT_FILES,
    DEMO_GUARD,
    DEMO_PASSWORD,
    STAGE_REVIEW,
    STAGE_SCANNERS,
    STAGE_SINK,
    STAGE_WORKERS,
    DemoOptions,
    add_demo_guard,
    child_environment,
    model_image_px,
    plan_children,
    require_free_ports,
    require_model,
    run_directory,
    signals_stop_the_run,
)
from infra.exceptions import DemoError
from infra.settings import load_settings
from tests.infra.demo_kit import DEMO, assert_all_gone, demo_args, tiny_env

# -- options and the plan of children -----------------------------------------------------


def test_options_name_the_bad_option() -> None:
    with pytest.raises(DemoError, match="--lanes"):
        DemoOptions(lanes=0)
    with pytest.raises(DemoError, match="--duration"):
        DemoOptions(duration_s=-1)
    with pytest.raises(DemoError, match="--alarm-threshold"):
        DemoOptions(alarm_threshold=1.5)


def test_review_deadline_is_longer_for_a_person() -> None:
    assert DemoOptions().deadline_s < DemoOptions(guards=False).deadline_s
    assert DemoOptions(guards=False, review_deadline_s=5).deadline_s == 5


def _names(specs: list[ChildSpec]) -> list[str]:
    return [spec.name for spec in specs]


def test_plan_with_consoles_on_chdb(tmp_path: Path) -> None:
    options = DemoOptions(checkpoints=2, lanes=3, edge_workers=2, port=9100, alarm_threshold=0.4)
    specs = plan_children(
        options, model=tmp_path, image_px=256, run_dir=tmp_path, console_runs_sink=True
    )
    by_name = {spec.name: spec for spec in specs}
    assert _names(specs) == [
        "cloud", "edge-1", "edge-2", "annotate", "guards", "console-gate-1", "console-gate-2",
        "scanner-gate-1", "scanner-gate-2",
    ]  # fmt: skip
    first, second = by_name["console-gate-1"], by_name["console-gate-2"]
    # Only one process can open embedded chdb: the first console runs the sink, stops last.
    assert "--sink" in first.argv
    assert first.stop_stage == STAGE_SINK
    assert "--no-sink" in second.argv
    assert second.stop_stage == STAGE_REVIEW
    assert first.start_alone
    assert second.start_alone
    assert first.argv[first.argv.index("--port") + 1] == "9100"
    assert second.argv[second.argv.index("--port") + 1] == "9101"
    assert second.argv.count("--lane") == 3
    assert by_name["cloud"].stop_stage == STAGE_WORKERS
    cloud = by_name["cloud"].argv
    assert cloud[cloud.index("--unreviewed-after") + 1] == f"{options.deadline_s:g}"
    edge = by_name["edge-2"].argv
    assert edge[edge.index("--alarm-threshold") + 1] == "0.4"
    scanners = [spec for spec in specs if spec.name.startswith("scanner")]
    assert {spec.stop_stage for spec in scanners} == {STAGE_SCANNERS}
    assert scanners[0].argv[scanners[0].argv.index("--size") + 1] == "256"


def test_plan_without_consoles_or_guards_runs_the_sink(tmp_path: Path) -> None:
    options = DemoOptions(consoles=False, guards=False, checkpoints=1)
    specs = plan_children(
        options, model=tmp_path, image_px=256, run_dir=tmp_path, console_runs_sink=True
    )
    assert _names(specs) == ["cloud", "edge-1", "annotate", "sink", "scanner-gate-1"]
    with_server = plan_children(
        DemoOptions(checkpoints=1),
        model=tmp_path,
        image_px=256,
        run_dir=tmp_path,
        console_runs_sink=False,
    )
    assert "sink" in _names(with_server)  # a ClickHouse server: the consoles run no sink


def test_demo_guard_can_sign_in_where_the_consoles_look(tmp_path: Path) -> None:
    from streams.console.accounts import GuardStore, default_guards_path

    add_demo_guard(tmp_path)
    add_demo_guard(tmp_path)  # a second run keeps one account
    store = GuardStore(default_guards_path(tmp_path))
    assert list(store.accounts()) == [DEMO_GUARD]
    assert store.verify(DEMO_GUARD, DEMO_PASSWORD)


def test_children_get_the_demo_broker_auto_labels_and_bounded_torch_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    env = child_environment(tmp_path, "127.0.0.1:9", edge_workers=2)
    assert env["LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS"] == "127.0.0.1:9"
    assert env["LEAKGUARD_DATA_DIR"] == str(tmp_path)
    assert env["OMP_NUM_THREADS"] == "4"  # 8 CPUs shared by two edge workers
    assert env["LEAKGUARD_ANNOTATION__AUTO_LABEL_CHECKPOINTS"] == '["*"]'
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert child_environment(tmp_path, "b:9", edge_workers=2)["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("OMP_NUM_THREADS", "6")  # the user's choice wins
    assert child_environment(tmp_path, "b:9", edge_workers=1)["OMP_NUM_THREADS"] == "6"


def test_artifact_files_are_the_detectors() -> None:
    from detector.artifacts import CARD_FILE, MODEL_FILE

    assert set(ARTIFACT_FILES) == {MODEL_FILE, CARD_FILE}


def test_missing_model_is_a_clear_error(tmp_path: Path, tiny_artifact: Path) -> None:
    with pytest.raises(DemoError, match=r"starter model is missing .*--model"):
        require_model(tmp_path, starter=True)
    assert require_model(tiny_artifact, starter=False) == tiny_artifact
    assert model_image_px(tiny_artifact) == 128  # the tiny preset's input size
    with pytest.raises(DemoError, match="input size"):
        model_image_px(tmp_path)


def test_taken_port_is_named() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(DemoError, match=rf"port {port} .*console of gate-1.*--port"):
            require_free_ports(DemoOptions(port=port, checkpoints=1))
    require_free_ports(DemoOptions(port=port, consoles=False))


def test_sigterm_and_sigint_end_the_run_like_ctrl_c_until_shielded() -> None:
    before = signal.getsignal(signal.SIGTERM)
    ignored_before = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a background job
    with signals_stop_the_run() as shield:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), sig)
        shield()  # the orderly stop must not be cut short
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is before
    assert signal.signal(signal.SIGINT, ignored_before) is signal.SIG_IGN


def test_second_demo_on_one_data_dir_is_refused() -> None:
    settings = load_settings()
    with run_directory(settings) as run_dir:
        assert (run_dir / "logs").is_dir()
        with pytest.raises(DemoError, match="another leakguard demo"), run_directory(settings):
            pass


# -- the real demo ---------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_ctrl_c_stops_everything(tiny_artifact: Path, tmp_path: Path) -> None:
    data_dir = Path(os.environ["LEAKGUARD_DATA_DIR"])
    processes_file = data_dir / "demo" / "processes.json"
    demo = subprocess.Popen(
        [*DEMO, *demo_args(tiny_artifact)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=tiny_env(),
    )
    try:
        deadline = time.monotonic() + 300
        while not processes_file.exists() and demo.poll() is None:
            assert time.monotonic() < deadline, "the demo did not finish starting"
            time.sleep(0.5)
        assert demo.poll() is None, demo.communicate()[0]
        pids = json.loads(processes_file.read_text())
        assert "broker" in pids  # no cluster configured: the demo's embedded broker
        # The edge worker stages every frame it takes before detecting it: frames flow.
        staged = data_dir / "demo" / "frames"
        while not any(staged.rglob("*.png")):
            assert demo.poll() is None, demo.communicate()[0]
            assert time.monotonic() < deadline, "no frame reached the edge worker"
            time.sleep(0.5)
        demo.send_signal(signal.SIGINT)
        output, _ = demo.communicate(timeout=180)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, output
    assert "stopping (Ctrl-C)" in output
    assert "final summary" in output
    assert_all_gone(pids)
    assert json.loads((data_dir / "demo" / "summary.json").read_text())["frames"] > 0


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_dead_worker_stops_the_demo_with_its_name(tiny_artifact: Path, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered"
    shutil.copytree(tiny_artifact, tampered)
    card = json.loads((tampered / "model_card.json").read_text())
    card["weights_sha256"] = "0" * 64  # the edge worker refuses the weights and exits
    (tampered / "model_card.json").write_text(json.dumps(card))
    args = demo_args(tiny_artifact)
    args[args.index("--model") + 1] = str(tampered)
    data_dir = Path(os.environ["LEAKGUARD_DATA_DIR"])

    result = subprocess.run(
        [*DEMO, "--no-console", "--duration", "300", *args],
        capture_output=True,
        text=True,
        timeout=500,
        cwd=tmp_path,
        env=tiny_env(),
        check=False,
    )
    assert result.returncode == 1
    assert "edge-1 exited with status" in result.stderr
    assert "SHA-256 does not match" in result.stderr  # the tail of its log
    assert_all_gone(json.loads((data_dir / "demo" / "summary.json").read_text())["pids"])
