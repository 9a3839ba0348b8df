"""Sites (issue #22): names checked before they reach Kafka, a site's own topics derived from
the spec and its overlay, the CLI that provisions them, and the worker configuration that
puts a site's edges in a group of their own and lets the cloud join every site."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from infra.exceptions import ConfigurationError, SiteNameError
from infra.settings import load_settings
from infra.sites import (
    MAX_SITE_CHARS,
    check_sites,
    fleet_routes,
    site_base,
    site_catalogues,
    site_topics,
)
from infra.topic_overrides import effective_spec
from infra.topics import TopicsSpec, apply_topics
from schemas.topics import Topics
from streams.config import WorkerConfig
from streams.exceptions import StreamsConfigError
from tests.cli_kit import run_leakguard


@pytest.mark.parametrize(
    "name", ["North", "north.gate", "north_gate", "-north", "north-", "", "nörth", "a b"]
)
def test_a_bad_site_name_is_refused_saying_what_a_name_may_hold(name: str) -> None:
    with pytest.raises(SiteNameError, match=r"lower-case letters, digits and hyphens"):
        site_topics(Topics(), name)


def test_site_names_are_bounded_and_listed_once() -> None:
    assert check_sites(["a", "b-2", "x" * MAX_SITE_CHARS]) == ("a", "b-2", "x" * MAX_SITE_CHARS)
    with pytest.raises(SiteNameError):
        check_sites(["x" * (MAX_SITE_CHARS + 1)])
    with pytest.raises(SiteNameError, match="more than once: north"):
        check_sites(["north", "south", "north"])


def test_a_site_has_its_own_frames_detections_and_verdicts_and_shares_the_rest() -> None:
    north = site_topics(Topics().prefixed("t-"), "north")

    assert (north.frames, north.detections, north.verdicts) == (
        "t-scanner.frames.north",
        "t-detections.north",
        "t-guard.verdicts.north",
    )
    assert (north.outcomes, north.model_updates, north.dead_letters) == (
        "t-outcomes",
        "t-model.updates",
        "t-deadletter",
    )
    assert site_topics(Topics(), None) == Topics()
    assert site_base("detections.north") == "detections"
    assert site_base("outcomes.north") is None
    assert site_base("detections") is None


def test_fleet_routes_decode_every_sites_detections_as_detections() -> None:
    routes = fleet_routes(Topics(), ["north", "south"], ("Detection", "Outcome"))

    assert routes == {
        "detections": "Detection",
        "detections.north": "Detection",
        "detections.south": "Detection",
        "outcomes": "Outcome",
    }


def test_site_topics_copy_their_base_as_the_overlay_sized_it(tmp_path: Path) -> None:
    overlay = tmp_path / "overrides.toml"
    overlay.write_text(
        "[defaults]\nreplication_factor = 3\n"
        '[topics."scanner.frames"]\npartitions = 16\n'
        '[topics."scanner.frames.north"]\npartitions = 32\nretention_ms = 3600000\n'
    )

    spec = effective_spec(None, overlay, ["north", "south"])

    north, south = spec.topics["scanner.frames.north"], spec.topics["scanner.frames.south"]
    assert (north.partitions, north.retention_ms, north.replication_factor) == (32, 3_600_000, 3)
    assert (south.partitions, south.replication_factor) == (16, 3)
    assert south.key == spec.topics["scanner.frames"].key
    assert south.max_message_bytes == spec.topics["scanner.frames"].max_message_bytes
    assert spec.topics["detections.south"].retention_ms == spec.topics["detections"].retention_ms
    assert "outcomes.north" not in spec.topics
    # the entry waits for its site: an environment's overlay serves commands of every site
    assert "scanner.frames.north" not in effective_spec(None, overlay).topics


@pytest.mark.parametrize(
    ("text", "sites", "message"),
    [
        (
            '[topics."detections.north"]\npartitions = 12\n',
            ["north"],
            r"co-partitioned.*detections.north 12",
        ),
        ('[topics."outcomes.north"]\npartitions = 4\n', ["north"], r"'outcomes.north'.*copies"),
    ],
)
def test_a_site_overlay_that_would_split_the_join_or_names_no_site_fails(
    tmp_path: Path, text: str, sites: list[str], message: str
) -> None:
    overlay = tmp_path / "overrides.toml"
    overlay.write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        effective_spec(None, overlay, sites)


def test_a_bad_site_variable_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAKGUARD_SITES", '["north", "South"]')
    with pytest.raises(ConfigurationError, match=r"LEAKGUARD_SITES: .*'South'"):
        load_settings()
    monkeypatch.setenv("LEAKGUARD_SITES", '["north", "south"]')
    monkeypatch.setenv("LEAKGUARD_SITE", "north")
    settings = load_settings()
    assert (settings.site, settings.sites) == ("north", ("north", "south"))


def test_a_sites_edges_are_a_group_of_their_own_and_the_cloud_joins_every_site() -> None:
    topics = Topics()
    edge = WorkerConfig(
        role="edge",
        bootstrap_servers="b:9092",
        model_path="m",
        topics=site_topics(topics, "north"),
        site="north",
    )
    cloud = WorkerConfig(
        role="cloud",
        bootstrap_servers="b:9092",
        site_topics=site_catalogues(topics, ["north", "south"]),
    )

    assert edge.app_id == "leakguard-edge-north"
    assert edge.consumed_topics() == ("scanner.frames.north",)
    assert cloud.app_id == "leakguard-cloud"
    assert cloud.consumed_topics() == (
        "detections",
        "detections.north",
        "detections.south",
        "guard.verdicts",
        "guard.verdicts.north",
        "guard.verdicts.south",
        "leakguard-cloud-expiry",
    )
    with pytest.raises(StreamsConfigError, match="whole fleet"):
        WorkerConfig(role="cloud", bootstrap_servers="b:9092", site="north")


def test_topics_show_and_apply_take_sites_from_the_option_or_the_settings(tmp_path: Path) -> None:
    shown = run_leakguard(["topics", "show", "--json", "--site", "north"], tmp_path)
    assert shown.returncode == 0, shown.stderr
    names = [topic["name"] for topic in json.loads(shown.stdout)["topics"]]
    assert {"scanner.frames.north", "detections.north", "guard.verdicts.north"} <= set(names)

    fleet = run_leakguard(["topics", "show", "--json"], tmp_path, LEAKGUARD_SITES='["a", "b"]')
    names = [topic["name"] for topic in json.loads(fleet.stdout)["topics"]]
    assert {"detections.a", "detections.b"} <= set(names)

    bad = run_leakguard(["topics", "apply", "--site", "North"], tmp_path)
    assert bad.returncode == 2
    assert "Invalid value for --site" in bad.stderr
    assert "lower-case letters" in bad.stderr


@pytest.mark.integration
def test_apply_creates_each_sites_topics_with_the_base_topics_contract(
    kafka_bootstrap: str, unique_name: str
) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    merged = effective_spec(None, None, ["north", "south"])
    spec = TopicsSpec(
        {
            f"{unique_name}.{name}": topic.model_copy(update={"name": f"{unique_name}.{name}"})
            for name, topic in merged.topics.items()
        }
    )

    assert {f"{unique_name}.detections.south"} <= set(apply_topics(admin, spec).created)
    assert apply_topics(admin, spec).created == []

    metadata = admin.list_topics(timeout=10).topics
    frames = f"{unique_name}.scanner.frames.north"
    assert len(metadata[frames].partitions) == merged.topics["scanner.frames"].partitions
    resource = ConfigResource("topic", frames)
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    assert configs["max.message.bytes"].value == "10485760"
    assert configs["retention.ms"].value == "86400000"
