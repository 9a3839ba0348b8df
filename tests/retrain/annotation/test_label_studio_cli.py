"""``leakguard annotate`` and the settings wiring, against the real Label Studio and broker."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from infra.annotation import running_bridge
from infra.label_studio import USERNAME, LocalLabelStudio
from infra.settings import load_settings
from retrain.annotation.ls_format import TASK_KEY
from retrain.annotation.receiver import SECRET_HEADER
from schemas.events import Annotation
from tests.kafka_kit import TopicReader
from tests.retrain.annotation.annotation_helpers import (
    CODEC,
    bridge_topics,
    fn_task,
    kept_image,
    running,
    send_tasks,
)

LEAKGUARD = str(Path(sys.executable).with_name("leakguard"))


def _annotate(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LEAKGUARD, "annotate", *args],
        env={**os.environ, **env, "COLUMNS": "200"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_status_without_label_studio_reports_auto_label_mode(tmp_path: Path) -> None:
    env = {"LEAKGUARD_ANNOTATION__AUTO_LABEL_CHECKPOINTS": '["*"]'}
    result = _annotate(["status"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "not configured (auto-label only)" in result.stdout
    assert "*" in result.stdout


def test_sync_refuses_checkpoints_with_neither_label_studio_nor_auto_label(tmp_path: Path) -> None:
    env = {
        "LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",  # never reached: checked first
        "LEAKGUARD_ANNOTATION__AUTO_LABEL_CHECKPOINTS": '["hq-north"]',
    }
    result = _annotate(["sync"], env, tmp_path)
    assert result.returncode == 1
    assert "LEAKGUARD_ANNOTATION__LABEL_STUDIO_URL" in result.stderr


def test_sync_refuses_to_start_without_a_webhook_secret(tmp_path: Path) -> None:
    env = {
        "LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",  # never reached: checked first
        "LEAKGUARD_ANNOTATION__LABEL_STUDIO_URL": "http://127.0.0.1:9",
        "LEAKGUARD_ANNOTATION__API_TOKEN": "token",
    }
    result = _annotate(["sync"], env, tmp_path)
    assert result.returncode == 1
    assert "no webhook secret" in result.stderr
    assert "leakguard annotate setup" in result.stderr
    short = _annotate(["sync"], {**env, "LEAKGUARD_ANNOTATION__WEBHOOK_SECRET": "x" * 8}, tmp_path)
    assert short.returncode == 1
    assert "LEAKGUARD_ANNOTATION__WEBHOOK_SECRET is shorter than 32" in short.stderr


@pytest.mark.integration
@pytest.mark.slow
def test_setup_is_idempotent_and_status_reports_the_project(
    label_studio: LocalLabelStudio, unique_name: str, tmp_path: Path
) -> None:
    title = f"cli {unique_name}"
    env = {
        "LEAKGUARD_ANNOTATION__LABEL_STUDIO_URL": label_studio.url,
        "LEAKGUARD_ANNOTATION__API_TOKEN": label_studio.token,
        "LEAKGUARD_ANNOTATION__PROJECT_TITLE": title,
        "LEAKGUARD_ANNOTATION__BRIDGE_URL": "http://127.0.0.1:9/",
    }
    first = _annotate(["setup"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "created" in first.stdout
    second = _annotate(["setup"], env, tmp_path)
    assert second.returncode == 0, second.stderr
    assert "found" in second.stdout
    projects = [
        p for p in label_studio.api("GET", "/api/projects/")["results"] if p["title"] == title
    ]
    assert len(projects) == 1
    hooks = label_studio.api("GET", "/api/webhooks/", params={"project": projects[0]["id"]})
    assert [h["url"] for h in hooks] == ["http://127.0.0.1:9/webhook"]
    # setup made the secret (private, kept by the second run) and gave it to the webhook.
    secret_file = Path(os.environ["LEAKGUARD_DATA_DIR"]) / "annotation" / "webhook.secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert hooks[0]["headers"] == {SECRET_HEADER: secret_file.read_text()}
    assert secret_file.read_text() not in first.stdout + second.stdout
    status = _annotate(["status"], env, tmp_path)
    assert status.returncode == 0, status.stderr
    assert title in status.stdout
    assert "webhook secret" in status.stdout
    secret_file.unlink()
    unset = _annotate(["status"], env, tmp_path)
    assert unset.returncode == 1
    assert "no webhook secret" in unset.stdout
    refused = _annotate(
        ["status"], {**env, "LEAKGUARD_ANNOTATION__API_TOKEN": "wrong-token"}, tmp_path
    )
    assert refused.returncode == 1
    assert "refused the API token" in refused.stdout


@pytest.mark.integration
@pytest.mark.slow
def test_bridge_built_from_settings_round_trips_an_annotation(
    label_studio: LocalLabelStudio, kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    settings = load_settings(
        annotation={
            "label_studio_url": label_studio.url,
            "api_token": label_studio.token,
            "project_title": f"settings {unique_name}",
            "listen_port": 0,
            "webhook_secret": "from-settings-0123456789abcdef-0123",
            "frame_store_url": str(tmp_path / "frames"),
        }
    )
    topics = bridge_topics(kafka_bootstrap, unique_name)
    task = fn_task(kept_image(tmp_path / "frames", frame_id="s0", seed=30)[0], frame_id="s0")
    send_tasks(kafka_bootstrap, topics, [CODEC.encode(task)])
    annotations = TopicReader(kafka_bootstrap, topics.annotations)
    with running_bridge(settings, bootstrap_servers=kafka_bootstrap, topics=topics) as bridge:
        assert bridge.project_id is not None
        with running(bridge.bridge, threading.Event()):
            deadline = time.monotonic() + 90
            found: list[dict[str, object]] = []
            while not found and time.monotonic() < deadline:
                found = label_studio.api(
                    "GET", "/api/tasks/", params={"project": bridge.project_id}
                )["tasks"]
                time.sleep(0.5)
            [ls_task] = found
            full = label_studio.api("GET", f"/api/tasks/{ls_task['id']}/")
            assert full["data"][TASK_KEY] == str(task.task_id)
            label_studio.api(
                "POST",
                f"/api/tasks/{ls_task['id']}/annotations/",
                json={"result": full["predictions"][0]["result"]},
            )
            [event] = annotations.events(Annotation, at_least=1, timeout_s=60, settle_s=2)
    annotations.close()
    assert event.task_id == task.task_id
    assert event.annotator == USERNAME
    assert [o.class_name for o in event.objects] == ["usb"]
