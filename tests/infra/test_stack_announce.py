"""``stack up`` when the registry's re-announcement fails (issue #22): the stack is up and
says so, the failure is named with what to do, ``stack status`` shows it pending, and the
next ``stack up`` on the running stack retries it, instead of a bare exit 1 that left a
running broker whose edges never learn their model. The stack also provisions the
configured sites' topics."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from retrain.keys import load_or_create_private_key
from tests.cli_kit import run_leakguard

pytestmark = pytest.mark.integration


def _run(args: list[str], cwd: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return run_leakguard(args, cwd, LEAKGUARD_DATA_DIR=str(data_dir), LEAKGUARD_SITES='["north"]')


def test_a_failed_announcement_leaves_the_stack_up_says_so_and_is_retried(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "registry").mkdir(parents=True)
    key = data_dir / "keys" / "registry-ed25519.pem"
    key.parent.mkdir()
    key.write_text("a damaged key file\n")

    up = _run(["stack", "up"], tmp_path, data_dir)
    try:
        assert up.returncode == 1, up.stderr
        assert "broker started" in up.stdout
        assert "announcement failed" in up.stderr
        assert "cannot read the signing key" in up.stderr
        assert "The stack is up" in up.stderr
        assert "Traceback" not in up.stderr
        status = _run(["stack", "status", "--json"], tmp_path, data_dir)
        assert status.returncode == 0, status.stderr
        document = json.loads(status.stdout)
        assert (document["running"], document["announce_pending"]) == (True, True)
        # the configured sites' topics are there too, so a local fleet can run on the stack
        admin = AdminClient({"bootstrap.servers": document["bootstrap_servers"]})
        assert "scanner.frames.north" in admin.list_topics(timeout=10).topics

        key.unlink()
        load_or_create_private_key(key)
        again = _run(["stack", "up"], tmp_path, data_dir)
        assert again.returncode == 0, again.stderr
        assert "broker already running" in again.stdout
        assert "no version is in shadow, canary or active" in again.stdout
        assert json.loads((data_dir / "stack.json").read_text())["announce_pending"] is False

        third = _run(["stack", "up"], tmp_path, data_dir)
        assert third.returncode == 0, third.stderr
        assert "rollout state" not in third.stdout  # announced once per broker start
    finally:
        down = _run(["stack", "down"], tmp_path, data_dir)
    assert down.returncode == 0, down.stderr
