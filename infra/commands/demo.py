"""The terminal side of ``leakguard demo``: options, start-up progress, the live summary and
the orderly stop. What runs is planned in :mod:`infra.demo.plan`; the children are
:mod:`infra.demo.children`; the counts come from :mod:`infra.demo.reader`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from infra.demo.plan import (
    DEMO_ALARM_THRESHOLD,
    DEMO_GUARD,
    DEMO_PASSWORD,
    DemoOptions,
    model_image_px,
    require_free_ports,
    require_model,
    run_directory,
    signals_stop_the_run,
    starter_model_path,
)
from infra.demo.run import DemoRun
from infra.demo.summary import DemoSummary, summary_table
from infra.settings import LeakguardSettings, load_settings

console = Console()

#: Refresh period of the live summary.
REFRESH_S: Final = 0.5

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command("demo")
def demo(
    duration_s: Annotated[
        float | None,
        typer.Option("--duration", help="Seconds to run after start-up; default: until Ctrl-C."),
    ] = None,
    no_guards: Annotated[
        bool,
        typer.Option("--no-guards", help="No simulated guards: you review alarms in the console."),
    ] = False,
    no_console: Annotated[
        bool,
        typer.Option("--no-console", help="No web consoles (headless); the sink runs alone."),
    ] = False,
    checkpoints: Annotated[int, typer.Option(help="Simulated checkpoints.")] = 2,
    lanes: Annotated[int, typer.Option(help="Lanes per checkpoint.")] = 2,
    rate_hz: Annotated[float, typer.Option("--rate", help="Frames per second per lane.")] = 0.2,
    image_px: Annotated[
        int | None,
        typer.Option("--size", help="Frame side in pixels; default: the model's input size."),
    ] = None,
    port: Annotated[
        int, typer.Option(help="Console port of the first checkpoint; the next use port+1...")
    ] = 8080,
    host: Annotated[str, typer.Option(help="Address the consoles listen on.")] = "127.0.0.1",
    model: Annotated[
        Path | None,
        typer.Option(help="Model artifact directory; default: the starter model."),
    ] = None,
    edge_workers: Annotated[int, typer.Option(help="Detection workers.")] = 1,
    alarm_threshold: Annotated[
        float,
        typer.Option(
            "--alarm-threshold",
            help="Score at which a storage medium alarms; the default suits the starter model.",
        ),
    ] = DEMO_ALARM_THRESHOLD,
    review_deadline_s: Annotated[
        float | None,
        typer.Option(
            "--review-deadline",
            help="Seconds until an unanswered alarm counts as unreviewed; "
            "default 8 (60 with --no-guards).",
        ),
    ] = None,
    guard_delay_s: Annotated[
        float, typer.Option("--guard-delay", help="Simulated guards' median answer time (s).")
    ] = 5.0,
    guard_miss_rate: Annotated[
        float, typer.Option(help="Share of missed media the simulated guards overlook too.")
    ] = 0.1,
    guard_mistake_rate: Annotated[
        float, typer.Option(help="Share of alarms the simulated guards judge wrongly.")
    ] = 0.05,
    guard_miss_rates: Annotated[
        str | None,
        typer.Option(
            "--guard-miss-rates",
            help="Comma-separated miss rates, one simulated guard each (sim-guard-1...), "
            "staffing the lanes in turn; default: one guard with --guard-miss-rate.",
        ),
    ] = None,
    tip_rate: Annotated[
        float,
        typer.Option(
            "--tip-rate",
            help="Share of every lane's frames that get a simulated medium projected in to "
            "test the guards (threat image projection; docs/tip.md).",
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulator and the guards.")] = 0,
) -> None:
    """Run the whole loop locally: broker, workers, sink, simulated checkpoints and guards,
    guard consoles; show a live summary; Ctrl-C stops everything.

    Needs no configuration. Logs, the frame store, chdb and summary.json go to
    <data dir>/demo/ (default .leakguard/demo/), emptied at each start.
    """
    options = DemoOptions(
        duration_s=duration_s,
        checkpoints=checkpoints,
        lanes=lanes,
        rate_hz=rate_hz,
        image_px=image_px,
        guards=not no_guards,
        consoles=not no_console,
        guard_delay_s=guard_delay_s,
        guard_miss_rate=guard_miss_rate,
        guard_mistake_rate=guard_mistake_rate,
        guard_miss_rates=_rates(guard_miss_rates),
        tip_rate=tip_rate,
        review_deadline_s=review_deadline_s,
        edge_workers=edge_workers,
        host=host,
        port=port,
        model=model,
        alarm_threshold=alarm_threshold,
        seed=seed,
    )
    run_demo(options, settings=load_settings())


def _rates(text: str | None) -> tuple[float, ...]:
    """The ``--guard-miss-rates`` list; a word that is no number is refused by name."""
    if not text:
        return ()
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--guard-miss-rates") from exc


def run_demo(options: DemoOptions, *, settings: LeakguardSettings) -> DemoSummary | None:
    """Start everything, show the live summary until the end, stop everything in order.

    Raises :class:`~infra.exceptions.DemoError` (after stopping everything) when a child dies.
    """
    model = require_model(options.model or starter_model_path(), starter=options.model is None)
    image_px = options.image_px or model_image_px(model)
    require_free_ports(options)
    with run_directory(settings) as run_dir, signals_stop_the_run() as shield:
        console.print(f"leakguard demo: logs, chdb, frames, summary in {run_dir}", markup=False)
        run = DemoRun(options, settings=settings, model=model, image_px=image_px, run_dir=run_dir)
        try:
            with console.status("starting") as status:
                run.start(lambda step: status.update(escape(step)))
            _print_addresses(run)
            _watch(run)
        except KeyboardInterrupt:
            console.print("stopping (Ctrl-C)")
        finally:
            shield()
            with console.status("stopping every process"):
                summary = run.stop()
            if summary is not None:
                console.print(summary_table(summary, title="leakguard demo: final summary"))
            console.print(f"logs: {run.log_dir}", markup=False)
    return summary


def _print_addresses(run: DemoRun) -> None:
    options = run.options
    console.print(f"broker: {run.bootstrap_servers}", markup=False)
    if not options.consoles:
        return
    for index, checkpoint in enumerate(options.checkpoint_ids):
        url = f"http://{options.host}:{options.console_port(index)}"
        console.print(f"guard console of {checkpoint}: [bold]{url}[/]")
    # The first console holds embedded chdb (only one process can open it), so it alone
    # has the analytics behind the overview.
    console.print(f"managers' overview: [bold]http://{options.host}:{options.port}/overview[/]")
    console.print(f"sign in as [bold]{DEMO_GUARD}[/] with password [bold]{DEMO_PASSWORD}[/]")


def _watch(run: DemoRun) -> None:
    """The live summary, until the duration has passed and the pipeline has drained."""
    options = run.options
    started = time.monotonic()

    def view(phase: str) -> Group:
        elapsed = Text(f"{phase}: {time.monotonic() - started:.0f} s elapsed; Ctrl-C stops")
        return Group(summary_table(run.summary(), title="leakguard demo"), elapsed)

    with Live(view("running"), console=console, refresh_per_second=2, transient=True) as live:
        while options.duration_s is None or time.monotonic() - started < options.duration_s:
            run.check()
            live.update(view("running"))
            time.sleep(REFRESH_S)
        run.stop_scanners()
        drain_until = time.monotonic() + options.drain_s
        while not run.drained() and time.monotonic() < drain_until:
            run.check()
            live.update(view("scanners stopped, draining"))
            time.sleep(REFRESH_S)
