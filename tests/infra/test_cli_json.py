"""Status and list commands print stable JSON with --json; help fits 80 columns and lists
the choices of every option that has a fixed set.

The commands run in this process through Typer's runner (the lazy groups import torch once,
not once per command), against the autouse fixture's private data dir.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args, get_type_hints

import pytest
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.core import TyperGroup
from typer.testing import CliRunner

from infra.cli import app
from infra.commands.choices import DriftName, ModelPresetName, OptimizerName, ScenePresetName
from infra.settings import load_settings
from infra.topics import load_spec, with_internal_topics
from retrain.registry import Registry
from tests.retrain.retrain_helpers import save_tiny

#: Commands that report a state or list things: each takes --json.
JSON_COMMANDS = [
    ["config", "show"],
    ["stack", "status"],
    ["topics", "show"],
    ["keys", "list"],
    ["retrain", "status"],
    ["models", "list"],
    ["models", "show"],
    ["annotate", "status"],
]


def invoke(*args: str, columns: int = 200) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns)})


def json_of(*args: str, exit_code: int = 0) -> Any:
    result = invoke(*args)
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout)


def every_command_path() -> list[list[str]]:
    """``[[], ["config"], ["config", "show"], ...]``: every group and command, lazy ones too."""
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(path: list[str], ctx: Any) -> None:
        paths.append(path)
        if not isinstance(ctx.command, TyperGroup):
            return
        for name in ctx.command.list_commands(ctx):
            sub = ctx.command.get_command(ctx, name)
            assert sub is not None
            walk([*path, name], sub.make_context(name, [], parent=ctx, resilient_parsing=True))

    walk([], root.make_context("leakguard", [], resilient_parsing=True))
    return paths


def test_config_show_json_masks_secrets_and_keeps_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAKGUARD_CLICKHOUSE__PASSWORD", "hunter22")
    monkeypatch.setenv("LEAKGUARD_METRICS_PORT", "9100")
    settings = json_of("config", "show", "--json")
    assert settings["LEAKGUARD_CLICKHOUSE__PASSWORD"] == "**********"
    assert "hunter22" not in json.dumps(settings)
    assert settings["LEAKGUARD_METRICS_PORT"] == 9100
    assert settings["LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS"] is None
    assert settings["LEAKGUARD_DATA_DIR"] == str(load_settings().data_dir)
    assert settings["LEAKGUARD_RETRAIN__REPLAY_DIRS"] == []


def test_topics_show_json_is_the_spec() -> None:
    document = json_of("topics", "show", "--json")
    spec = with_internal_topics(load_spec())
    assert [topic["name"] for topic in document["topics"]] == spec.names
    assert document["overrides"] is None
    first = document["topics"][0]
    assert set(first) >= {"name", "partitions", "replication_factor", "key", "retention_ms"}
    assert first["partitions"] == spec.topics[first["name"]].partitions


def test_topics_show_json_plans_the_overlay_for_an_app_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The overlay from the setting and the internal topics of the given app prefix."""
    overlay = Path(__file__).parents[2] / "deploy" / "kafka" / "production.toml"
    monkeypatch.setenv("LEAKGUARD_KAFKA__TOPIC_OVERRIDES", str(overlay))
    document = json_of("topics", "show", "--app-prefix", "site-a-", "--json")
    topics = {topic["name"]: topic for topic in document["topics"]}
    assert document["overrides"] == str(overlay)
    changelog = topics["site-a-leakguard-cloud-frames-changelog"]
    assert changelog["partitions"] == topics["detections"]["partitions"]
    assert (changelog["replication_factor"], changelog["min_insync_replicas"]) == (3, 2)
    assert changelog["cleanup_policy"] == "compact"
    assert "leakguard-cloud-expiry" not in topics


def test_stack_status_json_when_down_has_every_key_and_exits_1() -> None:
    document = json_of("stack", "status", "--json", exit_code=1)
    assert document["running"] is False
    assert document["healthy"] is False
    assert document["pid"] is None
    assert document["topics_present"] == []
    assert document["topics_missing"] == load_spec().names
    assert document["announce_pending"] is False
    assert set(document) == {
        "running",
        "healthy",
        "pid",
        "bootstrap_servers",
        "broker_answers",
        "uptime_s",
        "durable",
        "storage_running",
        "topics_present",
        "topics_missing",
        "announce_pending",
    }


def test_keys_list_json_names_the_principals_never_the_keys(tmp_path: Path) -> None:
    ring = tmp_path / "events.json"
    assert invoke("keys", "add", "edge:hq", "guard:hq", "--keyring", str(ring)).exit_code == 0
    document = json_of("keys", "list", "--keyring", str(ring), "--json")
    assert document == {"keyring": str(ring), "principals": ["edge:hq", "guard:hq"]}


def test_models_list_and_show_json_read_the_registry(tmp_path: Path) -> None:
    assert json_of("models", "list", "--json") == {"versions": []}
    registry = Registry(
        load_settings().data_dir / "registry", signing_key=Ed25519PrivateKey.generate()
    )
    artifact = save_tiny(tmp_path / "tiny", version="tiny", phone_bias=0.0)
    registry.register(artifact, parent=None, metrics={"map50_media": 0.5})
    listed = json_of("models", "list", "--json")["versions"]
    assert [(record["version"], record["state"]) for record in listed] == [("v0001", "candidate")]
    shown = json_of("models", "show", "v0001", "--json")
    assert shown == listed[0]
    assert shown["metrics"]["map50_media"] == 0.5
    assert Path(shown["artifact_dir"]).is_dir()


def test_retrain_status_json_on_an_empty_workdir() -> None:
    document = json_of("retrain", "status", "--json")
    assert document["pending_frames"] == 0
    assert document["trigger_samples"] == load_settings().retrain.trigger_samples
    assert document["training_sets"] == []
    assert document["active_model"] is None


def test_annotate_status_json_without_label_studio() -> None:
    document = json_of("annotate", "status", "--json")
    assert document["label_studio"] is None
    assert document["ready"] is True
    assert document["tasks_created"] == 0
    assert document["auto_label_checkpoints"] == []


def test_annotate_status_json_names_an_unreachable_label_studio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEAKGUARD_ANNOTATION__LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LEAKGUARD_ANNOTATION__API_TOKEN", "token")
    document = json_of("annotate", "status", "--json", exit_code=1)
    studio = document["label_studio"]
    assert document["ready"] is False
    assert studio["url"] == "http://127.0.0.1:9"
    assert studio["error"]
    assert studio["project"] is None


@pytest.mark.parametrize("path", JSON_COMMANDS, ids=" ".join)
def test_every_status_and_list_command_offers_json(path: list[str]) -> None:
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "--json" in result.stdout


def test_help_of_every_group_and_command_fits_80_columns() -> None:
    too_wide = {}
    for path in every_command_path():
        result = invoke(*path, "--help", columns=80)
        assert result.exit_code == 0, (path, result.output)
        lines = [line for line in result.stdout.splitlines() if len(line) > 80]
        if lines:
            too_wide[" ".join(path)] = lines
    assert not too_wide


@pytest.mark.parametrize(
    ("path", "choices"),
    [
        (["--help"], "text|json"),
        (["worker", "--help"], "edge|cloud"),
        (["worker", "--help"], "debug|info|warning|error|critical"),
        (["scanner", "simulate", "--help"], "phone-decoration"),
        (["data", "generate", "--help"], "alone|bag|cluttered"),
        (["train", "--help"], "adamw|sgd"),
        (["train", "--help"], "edge|edge-lite1|edge-lite2|edge-resnet18|paper|tiny"),
        (["dashboards", "annotate-rollout", "--help"], "shadow|canary|active"),
    ],
)
def test_options_with_fixed_choices_list_them(path: list[str], choices: str) -> None:
    result = invoke(*path, columns=300)
    assert result.exit_code == 0, result.output
    assert choices in result.stdout


def test_the_choices_match_their_registries() -> None:
    from detector.model.presets import PRESETS as MODEL_PRESETS
    from detector.sim.drift import DRIFTS
    from detector.sim.scenes import PRESETS as SCENE_PRESETS
    from detector.training.trainer import TrainConfig

    assert set(get_args(ScenePresetName)) == set(SCENE_PRESETS)
    assert set(get_args(DriftName)) == set(DRIFTS)
    assert set(get_args(ModelPresetName)) == set(MODEL_PRESETS)
    optimizers = get_args(get_type_hints(TrainConfig)["optimizer"])
    assert set(get_args(OptimizerName)) == set(optimizers)


def test_a_bad_choice_is_a_usage_error_naming_the_choices() -> None:
    result = invoke("dashboards", "annotate-rollout", "--model-version", "v1", "--mode", "live")
    assert result.exit_code == 2
    assert "canary" in result.output
