"""``leakguard annotate``: set up Label Studio, show the state, run the annotation bridge.

Mounted lazily by ``infra/cli.py``; see docs/annotation.md for running Label Studio beside
leakguard.
"""

from __future__ import annotations

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
from infra.ops import MetricsPortOption, ops_endpoint
from infra.processes import stop_on_signals
from infra.settings import load_settings
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
def status() -> None:
    """Show Label Studio's project counts, the bridge's state and the auto-label checkpoints.

    Exits 1 when Label Studio is configured but unreachable, or the bridge has no usable
    webhook secret (`sync` would not start).
    """
    settings = load_settings()
    annotation = settings.annotation
    table = Table("", "", title="annotation", show_header=False)
    policy = AutoLabelPolicy.of(annotation.auto_label_checkpoints)
    table.add_row("auto-label checkpoints", ", ".join(sorted(policy.checkpoints)) or "none")
    state = open_state(settings)
    try:
        counts = state.counts()
    finally:
        state.close()
    table.add_row("tasks created in Label Studio", str(counts.tasks))
    table.add_row("annotation versions emitted", str(counts.emitted))
    table.add_row("annotation versions not used", str(counts.rejected))
    table.add_row("webhooks waiting", str(counts.inbox))
    ready = True
    if annotation.label_studio_url is None:
        table.add_row("Label Studio", "not configured (auto-label only)")
    else:
        try:
            webhook_secret(settings, create=False)
            table.add_row("webhook secret", "set")
        except WebhookSecretError as exc:
            table.add_row("webhook secret", f"[red]{escape(str(exc))}[/]")
            ready = False
        client = label_studio_client(settings)
        try:
            table.add_row("Label Studio", f"{client.version()} at {client.url}")
            info = find_project(
                client, title=annotation.project_title, project_id=annotation.project_id
            )
            if info is None:
                table.add_row("project", "[yellow]none yet[/] (run `leakguard annotate setup`)")
            else:
                table.add_row("project", f"{info['id']} {info.get('title')!r}")
                table.add_row("tasks in project", str(info.get("task_number")))
                table.add_row("tasks annotated", str(info.get("num_tasks_with_annotations")))
        except LabelStudioError as exc:
            table.add_row("Label Studio", f"[red]{exc}[/]")
            ready = False
        finally:
            client.close()
    console.print(table)
    if not ready:
        raise typer.Exit(1)


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
