"""One demo run's lifecycle, without the terminal: start everything, watch, stop in order.

:class:`DemoRun` owns the embedded broker, the summary's reader and the child processes.
:meth:`DemoRun.stop` is idempotent and always runs the same order — children stage by stage,
then the reader to the topics' ends (so the final summary is complete), then the broker — and
writes ``summary.json`` with the process ids, so a test can prove nothing outlived the run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

from infra.broker import EmbeddedBroker
from infra.demo.children import ChildGroup, ChildProcess
from infra.demo.plan import (
    STAGE_REVIEW,
    STAGE_SCANNERS,
    DemoOptions,
    add_demo_event_keys,
    add_demo_guard,
    child_environment,
    plan_children,
    write_json,
)
from infra.demo.reader import EventReader, end_offsets
from infra.demo.summary import DemoSummary
from infra.exceptions import DemoError
from infra.settings import LeakguardSettings
from infra.stack import admin_client
from infra.topics import apply_topics, load_spec
from schemas.topics import Topics

#: Longest wait, at the end, for the summary to read the topics to their ends.
FINAL_READ_S: Final = 15.0

#: Called with a short description of each start-up step (the terminal shows it).
StepCallback = Callable[[str], None]


class DemoRun:
    """Everything one ``leakguard demo`` started; use :meth:`start`, then :meth:`stop`."""

    def __init__(
        self,
        options: DemoOptions,
        *,
        settings: LeakguardSettings,
        model: Path,
        image_px: int,
        run_dir: Path,
    ) -> None:
        self.options = options
        self.run_dir = run_dir
        self.log_dir = run_dir / "logs"
        self._settings = settings
        self._model = model
        self._image_px = image_px
        self._topics = Topics()
        self._broker: EmbeddedBroker | None = None
        self._reader: EventReader | None = None
        self._children: ChildGroup | None = None
        self._pids: dict[str, int] = {}
        self._final: DemoSummary | None = None
        self.bootstrap_servers = settings.kafka.bootstrap_servers or ""

    @property
    def pids(self) -> dict[str, int]:
        """Process ids of the broker and every child started so far."""
        children = self._children.pids() if self._children is not None else {}
        return {**self._pids, **children}

    def start(self, step: StepCallback) -> None:
        """Start the broker (unless a cluster is configured), the topics, the reader and the
        children; returns once the scanners publish. Raises :class:`DemoError`."""
        step("starting the broker and creating the topics")
        self._start_broker_and_reader()
        self._children = ChildGroup(
            log_dir=self.log_dir,
            env=child_environment(
                self.run_dir, self.bootstrap_servers, edge_workers=self.options.edge_workers
            ),
        )
        specs = plan_children(
            self.options,
            model=self._model,
            image_px=self._image_px,
            run_dir=self.run_dir,
            console_runs_sink=self._settings.clickhouse.embedded,
        )
        add_demo_event_keys(self.run_dir, self.options)
        if self.options.consoles:
            add_demo_guard(self.run_dir)
        step("starting the workers, the guards and the consoles")
        for spec in specs:
            if spec.stop_stage != STAGE_SCANNERS:
                child = self._children.start(spec)
                if spec.start_alone:
                    self._wait_ready([child], step)
        self._wait_ready(self._children.children, step)
        step("starting the simulated scanners")
        scanners = [self._children.start(s) for s in specs if s.stop_stage == STAGE_SCANNERS]
        self._wait_ready(scanners, step)
        write_json(self.run_dir / "processes.json", self.pids)

    def _start_broker_and_reader(self) -> None:
        """The embedded broker and the topics; the reader, from the topics' current ends."""
        if self._settings.kafka.embedded:
            self._broker = EmbeddedBroker(log_path=self.log_dir / "broker.log")
            self.bootstrap_servers = self._broker.start().bootstrap_servers
            self._pids["broker"] = self._broker.pid
        apply_topics(admin_client(self._settings, self.bootstrap_servers), load_spec())
        client = {
            "bootstrap.servers": self.bootstrap_servers,
            **self._settings.kafka.client_config(),
        }
        t = self._topics
        positions = end_offsets(
            client,
            [t.frames, t.detections, t.verdicts, t.outcomes, t.alerts, t.annotation_tasks,
             t.annotations, t.dead_letters, t.tip_results],
        )  # fmt: skip
        self._reader = EventReader(client=client, positions=positions)
        self._reader.start()

    def _wait_ready(self, children: list[ChildProcess], step: StepCallback) -> None:
        for child in children:
            if child.spec.ready_line is not None:
                step(f"waiting for {child.spec.name} to be ready (log: {child.log_path})")
            child.wait_ready(self.options.startup_timeout_s)
            self.check()

    def check(self) -> None:
        """Raise :class:`DemoError` naming a child that died (with its log's tail)."""
        if self._children is not None:
            self._children.check()

    def summary(self) -> DemoSummary:
        """The live summary (the final one once stopped)."""
        if self._final is not None:
            return self._final
        if self._reader is None:
            raise DemoError("the demo has not started")
        return self._reader.summary()

    def stop_scanners(self) -> None:
        """Stop publishing frames; the rest keeps running so in-flight frames finish."""
        if self._children is not None:
            self._children.stop(below_stage=STAGE_REVIEW)

    def drained(self) -> bool:
        """Whether every published frame has a detection and every alarm an outcome."""
        summary = self.summary()
        return summary.detected >= summary.frames and summary.awaiting_review == 0

    def stop(self) -> DemoSummary | None:
        """Stop everything in order and write ``summary.json``; idempotent. Returns the final
        summary (``None`` when the run failed before its reader started)."""
        pids = self.pids
        if self._children is not None:
            self._children.stop()
        if self._reader is not None and self._final is None:
            self._final = self._reader.finish(timeout_s=FINAL_READ_S)
        if self._broker is not None:
            self._broker.stop()
        if self._final is not None:
            write_json(self.run_dir / "summary.json", {**self._final.to_dict(), "pids": pids})
        return self._final
