"""``leakguard annotate``: set up Label Studio, show the state, run the annotation bridge.

Mounted lazily by ``infra/cli.py``; see docs/annotation.md for running Label Studio beside
leakguard.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infra.annotation import (
    WEBHOOK_SECRET_VARIABLE,
    label_studio_client,
    open_state,
    running_bridge,
    webhook_secret,
    webhook_secret_path,
)
from infra.commands.json_output import JsonOption, echo_json
from infra.commands.tables import folding_table
from infra.ops import MetricsPortOption, ops_endpoint
from infra.processes import stop_on_signals
from infra.settings import LeakguardSettings, load_settings
from infra.stack import require_bootstrap_servers
from leakguard.health import Checks, writable
from retrain.annotation.auto_label import AutoLabelPolicy
from retrain.annotation.exceptions import LabelStudioError, WebhookSecretError
from retrain.annotation.project import ensure_project, ensure_webhook, find_project
from schemas.topics import Topics

console = Console()

app = typer.Typer(
    help="Annotation: Label Studio tasks for the detector's mistakes, or auto-labels.",
    no_args_is_help=True,
)


@app.command("setup")
def setup() -> None:
    """Create (or update) the Label Studio project and point its webhook at the bridge.

    Idempotent. Needs LEAKGUARD_ANNOTATION__LABEL_STUDIO_URL and __API_TOKEN; the webhook
    goes to LEAKGUARD_ANNOTATION__BRIDGE_URL (default http://<listen host>:<listen port>).
    The webhook carries the bridge's secret: LEAKGUARD_ANNOTATION__WEBHOOK_SECRET when set,
    else <data dir>/annotation/webhook.secret, created here (random, mode 0600) when absent.
    `sync` refuses to start without it.
    """
    settings = load_settings()
    annotation = settings.annotation
    client = label_studio_client(settings)
    try:
        secret = webhook_secret(settings, create=True)
        version = client.version()
        project = ensure_project(
            client, title=annotation.project_title, project_id=annotation.project_id
        )
        bridge_url = annotation.bridge_url or (
            f"http://{annotation.listen_host}:{annotation.listen_port}"
        )
        hook_id = ensure_webhook(
            client, project_id=project.project_id, bridge_url=bridge_url, secret=secret
        )
    finally:
        client.close()
    verb = "created" if project.created else "found"
    console.print(f"Label Studio {version} at {client.url}")
    console.print(
        f"project {project.project_id} {project.title!r} {verb}"
        + (", labelling config updated" if project.config_updated else "")
    )
    secret_from = (
        WEBHOOK_SECRET_VARIABLE
        if annotation.webhook_secret is not None
        else str(webhook_secret_path(settings))
    )
    console.print(f"webhook {hook_id} -> {bridge_url}/webhook, secret from {secret_from}")
    console.print(f"open {client.url}/projects/{project.project_id}/data to annotate")


@app.command("status")
def status(as_json: JsonOption = False) -> None:
    """Show Label Studio's project counts, the bridge's state and the auto-label checkpoints.

    Exits 1 when Label Studio is configured but unreachable, or the bridge has no usable
    webhook secret (`sync` would not start). With --json: auto_label_checkpoints, the bridge's
    counts, label_studio (null when not configured: url, version, webhook_secret, project,
    error) and ready.
    """
    document = _status_document(load_settings())
    if as_json:
        echo_json(document)
    else:
        console.print(_status_table(document))
    if not document["ready"]:
        raise typer.Exit(1)


def _status_document(settings: LeakguardSettings) -> dict[str, Any]:
    """What `annotate status` reports, asked of the bridge's state and Label Studio once."""
    annotation = settings.annotation
    state = open_state(settings)
    try:
        counts = state.counts()
    finally:
        state.close()
    document: dict[str, Any] = {
        "auto_label_checkpoints": sorted(
            AutoLabelPolicy.of(annotation.auto_label_checkpoints).checkpoints
        ),
        "tasks_created": counts.tasks,
        "annotations_emitted": counts.emitted,
        "annotations_not_used": counts.rejected,
        "webhooks_waiting": counts.inbox,
        "label_studio": None,
        "ready": True,
    }
    if annotation.label_studio_url is None:
        return document
    studio: dict[str, Any] = {
        "url": None,
        "version": None,
        "webhook_secret": "set",
        "project": None,
        "error": None,
    }
    document["label_studio"] = studio
    try:
        webhook_secret(settings, create=False)
    except WebhookSecretError as exc:
        studio["webhook_secret"] = str(exc)
        document["ready"] = False
    client = label_studio_client(settings)
    studio["url"] = client.url
    try:
        studio["version"] = client.version()
        info = find_project(
            client, title=annotation.project_title, project_id=annotation.project_id
        )
        if info is not None:
            studio["project"] = {
                "id": info["id"],
                "title": info.get("title"),
                "tasks": info.get("task_number"),
                "tasks_annotated": info.get("num_tasks_with_annotations"),
            }
    except LabelStudioError as exc:
        studio["error"] = str(exc)
        document["ready"] = False
    finally:
        client.close()
    return document


def _status_table(document: dict[str, Any]) -> Table:
    """The status document as the table a person reads."""
    table = folding_table("", "", title="annotation", show_header=False)
    table.add_row("auto-label checkpoints", ", ".join(document["auto_label_checkpoints"]) or "none")
    table.add_row("tasks created in Label Studio", str(document["tasks_created"]))
    table.add_row("annotation versions emitted", str(document["annotations_emitted"]))
    table.add_row("annotation versions not used", str(document["annotations_not_used"]))
    table.add_row("webhooks waiting", str(document["webhooks_waiting"]))
    studio = document["label_studio"]
    if studio is None:
        table.add_row("Label Studio", "not configured (auto-label only)")
        return table
    secret = studio["webhook_secret"]
    table.add_row("webhook secret", "set" if secret == "set" else f"[red]{escape(secret)}[/]")
    if studio["error"] is not None:
        table.add_row("Label Studio", f"[red]{escape(studio['error'])}[/]")
        return table
    table.add_row("Label Studio", f"{studio['version']} at {studio['url']}")
    project = studio["project"]
    if project is None:
        table.add_row("project", "[yellow]none yet[/] (run `leakguard annotate setup`)")
    else:
        table.add_row("project", f"{project['id']} {project['title']!r}")
        table.add_row("tasks in project", str(project["tasks"]))
        table.add_row("tasks annotated", str(project["tasks_annotated"]))
    return table


@app.command("sync")
def sync(metrics_port: MetricsPortOption = None) -> None:
    """Run the bridge: tasks to Label Studio or auto-labels, annotations back as events.

    Annotations come back by webhook, with polling as fallback. Runs until Ctrl-C or SIGTERM.
    With Label Studio configured it needs the webhook secret `setup` creates (or
    LEAKGUARD_ANNOTATION__WEBHOOK_SECRET) and refuses to start without it.
    """
    settings = load_settings()
    stop = stop_on_signals()
    servers = require_bootstrap_servers(settings)
    state_folder = (settings.data_dir / settings.annotation.state_file_name).parent
    with running_bridge(settings, bootstrap_servers=servers) as running:
        if running.bridge_url is None:
            console.print("auto-labelling every checkpoint; Ctrl-C stops")
        else:
            console.print(
                f"bridge at {running.bridge_url} for Label Studio project "
                f"{running.project_id}; Ctrl-C stops"
            )
        checks = running.bridge.checks() | Checks(
            ready={"state": writable(state_folder, what="bridge state folder")}
        )
        with ops_endpoint(
            settings,
            port=metrics_port,
            bootstrap_servers=servers,
            checks=checks,
            group=settings.annotation.group_id,
            topics=[Topics().annotation_tasks],
        ):
            running.bridge.run(stop)
