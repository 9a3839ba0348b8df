"""The documented shell commands, run as a user runs them: as a separate ``leakguard`` process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.processes import process_alive
from tests.cli_kit import run_leakguard


def test_help_lists_every_command_group(tmp_path: Path) -> None:
    result = run_leakguard(["--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    for group in (
        "config",
        "stack",
        "topics",
        "data",
        "train",
        "eval",
        "analytics",
        "dashboards",
        "alerts",
        "worker",
        "scanner",
    ):
        assert group in result.stdout


def test_root_help_does_not_import_torch() -> None:
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from infra.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "print(result.exit_code, 'torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.split() == ["0", "False"]


def test_lazy_group_runs_its_real_subcommands(tmp_path: Path) -> None:
    result = run_leakguard(["data", "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "generate" in result.stdout
    assert "gallery" in result.stdout


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    result = run_leakguard(["config", "show"], tmp_path, LEAKGUARD_CLICKHOUSE__PASSWORD="pa55word")
    assert result.returncode == 0, result.stderr
    assert "LEAKGUARD_CLICKHOUSE__PASSWORD" in result.stdout
    assert "**********" in result.stdout
    assert "pa55word" not in result.stdout


def test_bad_setting_fails_with_the_variable_named(tmp_path: Path) -> None:
    result = run_leakguard(["config", "show"], tmp_path, LEAKGUARD_LOG_LEVEL="LOUD")
    assert result.returncode == 1
    assert "LEAKGUARD_LOG_LEVEL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_stack_up_status_down(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"LEAKGUARD_DATA_DIR": str(data_dir)}
    assert run_leakguard(["stack", "status"], tmp_path, **env).returncode == 1

    up = run_leakguard(["stack", "up"], tmp_path, **env)
    assert up.returncode == 0, up.stderr
    state = json.loads((data_dir / "stack.json").read_text())
    try:
        assert state["bootstrap_servers"] in up.stdout
        assert process_alive(state["pid"])
        status = run_leakguard(["stack", "status"], tmp_path, **env)
        assert status.returncode == 0, status.stderr
        assert "answers" in status.stdout
        assert "topics present: 11/11" in status.stdout
        again = run_leakguard(["topics", "apply"], tmp_path, **env)
        assert again.returncode == 0, again.stderr
        assert "created: -" in again.stdout
    finally:
        down = run_leakguard(["stack", "down"], tmp_path, **env)
    assert down.returncode == 0, down.stderr
    assert not process_alive(state["pid"])
    assert run_leakguard(["stack", "status"], tmp_path, **env).returncode == 1


def test_topics_apply_without_a_broker_explains_what_to_do(tmp_path: Path) -> None:
    result = run_leakguard(["topics", "apply"], tmp_path)
    assert result.returncode == 1
    assert "leakguard stack up" in result.stderr


def test_keys_add_and_list_keep_keys_private(tmp_path: Path) -> None:
    """`keys add` writes the data dir's keyring (0600), keeps existing keys, refuses a bad
    producer name in one red line; `keys list` names the producers, never their keys."""
    data = {"LEAKGUARD_DATA_DIR": str(tmp_path / "data")}
    first = run_leakguard(["keys", "add", "edge:hq", "guard:hq"], tmp_path, **data)
    assert first.returncode == 0, first.stderr
    ring = tmp_path / "data" / "keys" / "events.json"
    keys = json.loads(ring.read_text())
    assert sorted(keys) == ["edge:hq", "guard:hq"]
    assert ring.stat().st_mode & 0o777 == 0o600
    again = run_leakguard(["keys", "add", "edge:hq", "edge:*"], tmp_path, **data)
    assert "added edge:*" in again.stdout
    assert json.loads(ring.read_text())["edge:hq"] == keys["edge:hq"]
    listed = run_leakguard(["keys", "list"], tmp_path, **data)
    assert listed.stdout.split() == ["edge:*", "edge:hq", "guard:hq"]
    assert keys["edge:hq"] not in listed.stdout
    bad = run_leakguard(["keys", "add", "cloud"], tmp_path, **data)
    assert bad.returncode == 1
    assert "is no producer" in bad.stderr


def test_alerts_deliver_is_the_command_the_readme_names(tmp_path: Path) -> None:
    """A group of one command must stay a group: `leakguard alerts deliver` reaches the
    command, which asks for its settings."""
    result = run_leakguard(["alerts", "deliver"], tmp_path, LEAKGUARD_DATA_DIR=str(tmp_path / "d"))
    assert result.returncode == 1
    assert "LEAKGUARD_ALERTS__ENDPOINT_URL" in result.stderr, result.stderr
