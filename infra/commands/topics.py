"""``leakguard topics``: show and apply the topic spec, every site's copies of the site
topics and the cloud join's internal topics added and an environment's overlay merged over
them, so every topic exists, sized for the environment, before a worker starts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from infra.commands.json_output import JsonOption, echo_json
from infra.commands.tables import folding_table
from infra.exceptions import SiteNameError, TopicDriftError
from infra.settings import load_settings
from infra.stack import admin_client, require_bootstrap_servers
from infra.topic_overrides import effective_spec
from infra.topics import DEFAULT_SPEC_PATH, TopicsSpec, apply_topics, with_internal_topics

__all__ = ["topics_app"]

console = Console()
err_console = Console(stderr=True)

topics_app = typer.Typer(
    help="Create and check the Kafka topics of the spec.", no_args_is_help=True
)

SpecOption = Annotated[
    Path | None,
    typer.Option(
        "--spec",
        help="Topic spec file (default: LEAKGUARD_KAFKA__TOPIC_SPEC, else the packaged "
        "infra/topics.toml).",
        show_default=False,
    ),
]
OverridesOption = Annotated[
    Path | None,
    typer.Option(
        "--overrides",
        help="This environment's overlay: [defaults] replication_factor, "
        "min_insync_replicas; [topics.NAME] partitions etc. (default: "
        "LEAKGUARD_KAFKA__TOPIC_OVERRIDES, else none; e.g. deploy/kafka/production.toml).",
        show_default=False,
    ),
]
AppPrefixOption = Annotated[
    list[str] | None,
    typer.Option(
        "--app-prefix",
        help="Prefix of the cloud worker's app id whose internal topics (join changelog, "
        "expiry) to provision, as the worker's --topic-prefix (repeatable; default: none).",
        show_default=False,
    ),
]


SitesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--site",
        help="A site whose own scanner.frames.SITE, detections.SITE and guard.verdicts.SITE "
        "to provision with the base topics (repeatable; default: LEAKGUARD_SITES, else none).",
        show_default=False,
    ),
]


def _topics_of(
    spec: Path | None, overrides: Path | None, sites: list[str] | None
) -> tuple[Path, TopicsSpec]:
    """The spec path shown to the operator and the spec with the sites' topics added and
    the overlay merged."""
    settings = load_settings()
    kafka = settings.kafka
    spec_path = spec or kafka.topic_spec or DEFAULT_SPEC_PATH
    wanted = settings.sites if sites is None else sites
    try:
        merged = effective_spec(spec_path, overrides or kafka.topic_overrides, wanted)
    except SiteNameError as exc:
        raise typer.BadParameter(str(exc), param_hint="--site") from exc
    return spec_path, merged


def _with_internal(spec: TopicsSpec, app_prefixes: list[str] | None) -> TopicsSpec:
    for prefix in app_prefixes or [""]:
        spec = with_internal_topics(spec, prefix)
    return spec


@topics_app.command("apply")
def topics_apply(
    check: Annotated[
        bool, typer.Option("--check", help="Create nothing; report missing topics as drift.")
    ] = False,
    spec: SpecOption = None,
    overrides: OverridesOption = None,
    app_prefixes: AppPrefixOption = None,
    sites: SitesOption = None,
) -> None:
    """Create the missing topics of the spec (overlay merged), of every site and the cloud
    join's internal topics; report drift (exit 1) instead of fixing it."""
    settings = load_settings()
    _, topics = _topics_of(spec, overrides, sites)
    admin = admin_client(settings, require_bootstrap_servers(settings))
    try:
        report = apply_topics(admin, _with_internal(topics, app_prefixes), check_only=check)
    except TopicDriftError as exc:
        err_console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print(f"created: {', '.join(report.created) or '-'}")
    console.print(f"unchanged: {', '.join(report.unchanged) or '-'}")


@topics_app.command("show")
def topics_show(
    spec: SpecOption = None,
    overrides: OverridesOption = None,
    app_prefixes: AppPrefixOption = None,
    sites: SitesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the topics `apply` provisions (overlay merged, the sites' topics and the
    join's internal topics included): partitions, replication, min.insync.replicas, key,
    retention and message size limit per topic.

    With --json: {"spec": path, "overrides": path or null, "topics": [every field of each
    topic; retention_ms -1 keeps for ever; min_insync_replicas null is the broker's]}.
    """
    spec_path, topics = _topics_of(spec, overrides, sites)
    topics = _with_internal(topics, app_prefixes)
    overlay = overrides or load_settings().kafka.topic_overrides
    if as_json:
        documents = [topic.model_dump() for topic in topics.topics.values()]
        echo_json(
            {
                "spec": str(spec_path),
                "overrides": None if overlay is None else str(overlay),
                "topics": documents,
            }
        )
        return
    title = str(spec_path) if overlay is None else f"{spec_path} + {overlay}"
    table = folding_table("topic", title=title)
    # The numbers never wrap: at 80 columns the squeeze goes to the names and keys, which fold.
    for header in ("parts", "repl", "min ISR"):
        table.add_column(header, no_wrap=True, justify="right")
    table.add_column("key")
    for header in ("retention", "max msg"):
        table.add_column(header, no_wrap=True, justify="right")
    for topic in topics.topics.values():
        retention = "forever" if topic.retention_ms < 0 else f"{topic.retention_ms / 3.6e6:g} h"
        table.add_row(
            topic.name,
            str(topic.partitions),
            str(topic.replication_factor),
            "-" if topic.min_insync_replicas is None else str(topic.min_insync_replicas),
            topic.key,
            retention,
            f"{topic.max_message_bytes / 2**20:.3g} MiB",
        )
    console.print(table)
