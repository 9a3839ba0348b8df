"""``leakguard demo``: the whole loop on one machine, with no configuration.

It starts the embedded broker, creates the topics, then runs every part of the system as the
command an operator would run, each a child process logging to ``<data dir>/demo/logs/``:

=================  =====================================================================
child              command
=================  =====================================================================
``cloud``          ``leakguard worker --role cloud`` (outcome join, alerts, annotation)
``edge-N``         ``leakguard worker --role edge --model STARTER`` (detection)
``annotate``       ``leakguard annotate sync``, auto-labelling: tasks become annotations
``guards``         ``leakguard scanner guards`` (unless ``--no-guards``)
``console-CP``     ``leakguard console serve`` per checkpoint; the first runs the sink into
                   embedded chdb (which only one process can open) and serves the overview
``sink``           ``leakguard analytics sink``, only without consoles or with a server
``scanner-CP``     ``leakguard scanner simulate`` per checkpoint (its lanes interleaved)
=================  =====================================================================

The terminal shows a live summary read from the topics (:mod:`infra.demo.reader`). The run
ends after ``duration_s`` (then the scanners stop and the pipeline drains) or on Ctrl-C /
SIGTERM; children stop in stages, producers first and the broker last.

Time is compressed so that two minutes show every outcome: a frame no guard answered within
``review_deadline_s`` (8 s with simulated guards, 60 s without; production: 600 s) counts
as unreviewed, and the simulated guards answer after a median of 5 s.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from infra.demo.children import ChildSpec, leakguard_argv
from infra.exceptions import DemoError
from infra.processes import LOOPBACK
from infra.settings import LeakguardSettings

#: Files of a model artifact directory: detector.artifacts.MODEL_FILE and CARD_FILE (that
#: module imports torch, which the demo process does not need).
ARTIFACT_FILES: Final = ("model.safetensors", "model_card.json")
#: Demo sign-in of the guard console.
DEMO_GUARD: Final = "demo"
DEMO_PASSWORD: Final = "leakguard-demo"
#: What the console prints once it serves (contract of ``leakguard console serve``).
CONSOLE_READY_LINE: Final = "console ready at"
#: What a Faust worker logs (at level info) once its agents run and its partitions are
#: assigned: frames published after it get answers in steady-state time.
WORKER_READY_LINE: Final = "[^Worker]: Ready"
#: What ``leakguard scanner guards`` prints once it has its partitions (pinned at their
#: ends): frames published after it meet guards who know their ground truth.
GUARDS_READY_LINE: Final = "guards answering"
#: The demo has no annotators: the guards' corrections become annotations at once.
AUTO_LABEL_ENV: Final = {"LEAKGUARD_ANNOTATION__AUTO_LABEL_CHECKPOINTS": '["*"]'}
#: What ``leakguard scanner simulate`` prints once its simulator is built: the run's clock
#: starts there, not while the scanners are still importing.
SCANNER_READY_LINE: Final = "publishing "
#: Review deadlines: simulated guards answer in seconds; a person at the console needs more.
GUARDS_REVIEW_DEADLINE_S: Final = 8.0
PERSON_REVIEW_DEADLINE_S: Final = 60.0
#: The edge workers' alarm score: the CPU-trained starter model's operating point (0.11.0:
#: 98.2 % of bags detected at 9.4 % false alarms on clean bags, 10.9 % of media missed;
#: docs/detector-model.md).
DEMO_ALARM_THRESHOLD: Final = 0.3
#: How often the cloud looks for frames past their deadline: a small share of the deadline.
EXPIRY_CHECK_S: Final = 1.0

# Stop stages: producers first (nothing new enters), then the guards and consoles (they
# answer what is in flight while the pipeline drains), the workers, and the sink last, so
# that it stores what the workers produced before they stopped.
STAGE_SCANNERS: Final = 0
STAGE_REVIEW: Final = 1
STAGE_WORKERS: Final = 2
STAGE_SINK: Final = 3


@dataclass(frozen=True, kw_only=True)
class DemoOptions:
    """Options of one demo run, each with its default.

    - ``duration_s``: run time after start-up (``None``: until Ctrl-C).
    - ``checkpoints`` x ``lanes``: simulated checkpoints (``gate-1``...) and lanes (2 x 2).
    - ``rate_hz``: frames per second per lane (0.2: a bag every 5 s, which one CPU edge
      worker with the starter model answers for four lanes); ``image_px``: frame side (``None``: the
      model's input size, so frames are not resized before inference).
    - ``consoles``: serve a guard console per checkpoint and the overview (True).
    - ``guards``: simulated guards answer every detection (True); ``guard_delay_s`` their
      median answer time (5 s), ``guard_miss_rate`` / ``guard_mistake_rate`` (0.1 / 0.05).
    - ``guard_miss_rates``: one simulated guard per rate, ``sim-guard-1``... with that miss
      rate, staffing the lanes in turn (empty: one guard with ``guard_miss_rate``).
    - ``tip_rate``: share of every lane's frames the edges project a simulated medium into
      to test the guards (threat image projection, docs/tip.md; 0: none).
    - ``review_deadline_s``: seconds until an unanswered alarm is unreviewed (8 s with
      guards, 60 s without).
    - ``edge_workers``: detection workers sharing the frames' partitions (1).
    - ``host`` / ``port``: the first checkpoint's console; the next ones use the next ports.
    - ``model``: model artifact directory (``None``: the starter model).
    - ``alarm_threshold``: the edge workers' alarm score (0.3, the starter model's
      operating point; production's default is 0.5).
    - ``drain_s``: longest wait, after the scanners stop, for in-flight frames (30 s).
    - ``startup_timeout_s``: longest wait for a worker or console to be ready (180 s).
    """

    duration_s: float | None = None
    checkpoints: int = 2
    lanes: int = 2
    rate_hz: float = 0.2
    image_px: int | None = None
    guards: bool = True
    consoles: bool = True
    guard_delay_s: float = 5.0
    guard_miss_rate: float = 0.1
    guard_mistake_rate: float = 0.05
    guard_miss_rates: tuple[float, ...] = ()
    tip_rate: float = 0.0
    review_deadline_s: float | None = None
    edge_workers: int = 1
    host: str = LOOPBACK
    port: int = 8080
    model: Path | None = None
    alarm_threshold: float = DEMO_ALARM_THRESHOLD
    seed: int = 0
    drain_s: float = 30.0
    startup_timeout_s: float = 180.0

    def __post_init__(self) -> None:
        positive = {
            "--checkpoints": self.checkpoints,
            "--lanes": self.lanes,
            "--rate": self.rate_hz,
            "--edge-workers": self.edge_workers,
        }
        if self.image_px is not None:
            positive["--size"] = self.image_px
        for option, value in positive.items():
            if value <= 0:
                raise DemoError(f"{option} must be positive, got {value}")
        if self.duration_s is not None and self.duration_s <= 0:
            raise DemoError(f"--duration must be positive, got {self.duration_s}")
        if self.review_deadline_s is not None and self.review_deadline_s <= 0:
            raise DemoError(f"--review-deadline must be positive, got {self.review_deadline_s}")
        if not 0 <= self.tip_rate <= 1:
            raise DemoError(f"--tip-rate must be within [0, 1], got {self.tip_rate}")
        if any(not 0 <= rate <= 1 for rate in self.guard_miss_rates):
            raise DemoError(
                f"--guard-miss-rates must be within [0, 1], got {self.guard_miss_rates}"
            )
        if not 0 < self.alarm_threshold <= 1:
            raise DemoError(f"--alarm-threshold must be in (0, 1], got {self.alarm_threshold}")
        if not 0 < self.port <= 65535 - self.checkpoints:
            raise DemoError(f"--port must leave room for {self.checkpoints} consoles")

    @property
    def checkpoint_ids(self) -> list[str]:
        """Ids of the simulated checkpoints."""
        return [f"gate-{number}" for number in range(1, self.checkpoints + 1)]

    @property
    def deadline_s(self) -> float:
        """The review deadline in effect."""
        if self.review_deadline_s is not None:
            return self.review_deadline_s
        return GUARDS_REVIEW_DEADLINE_S if self.guards else PERSON_REVIEW_DEADLINE_S

    def console_port(self, checkpoint_index: int) -> int:
        """Port of the console of the ``checkpoint_index``-th checkpoint (0-based)."""
        return self.port + checkpoint_index


def starter_model_path() -> Path:
    """The starter model committed with leakguard (``detector/starter/``).

    The demo and fresh checkpoints run it until a retrained model is rolled out.
    """
    import detector

    return Path(detector.__file__).with_name("starter")


def require_model(path: Path, *, starter: bool) -> Path:
    """``path`` if it holds a model artifact's files, else a :class:`DemoError` saying what
    to do: checked before anything starts, so a missing model never shows up as a dead
    edge worker. (The edge worker verifies the hash when it loads the model.)"""
    missing = [name for name in ARTIFACT_FILES if not (path / name).is_file()]
    if not missing:
        return path
    what = "the starter model" if starter else f"model {path}"
    raise DemoError(
        f"{what} is missing {' and '.join(missing)} (in {path}); pass --model ARTIFACT_DIR, "
        "a directory `leakguard train` wrote"
    )


def model_image_px(model: Path) -> int:
    """The side the model resizes frames to (its card's ``preset.min_size``): the demo's
    default frame size, so the simulated frames are at the scale the model learnt."""
    card_path = model / ARTIFACT_FILES[1]
    try:
        return int(json.loads(card_path.read_text())["preset"]["min_size"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DemoError(f"cannot read the input size from {card_path}: {exc}") from exc


def plan_children(
    options: DemoOptions,
    *,
    model: Path,
    image_px: int,
    run_dir: Path,
    console_runs_sink: bool,
) -> list[ChildSpec]:
    """Every child of a run, in start order: the scanners last, once the rest is ready.

    ``console_runs_sink``: the first console runs the ClickHouse sink in its own process
    (its default with embedded chdb, which only one process can open), so no separate
    ``sink`` child runs and that console stops last.
    """
    frames = str(frames_dir(run_dir))
    specs = [
        _cloud(options, frames),
        *_edges(options, frames, model),
        # No ready line: the bridge reads annotation.tasks from the earliest offset.
        ChildSpec("annotate", leakguard_argv("annotate", "sync"), STAGE_WORKERS),
    ]
    if not (options.consoles and console_runs_sink):
        specs.append(ChildSpec("sink", leakguard_argv("analytics", "sink"), STAGE_SINK))
    if options.guards:
        specs.append(_guards(options))
    if options.consoles:
        specs.extend(_consoles(options, frames, runs_sink=console_runs_sink))
    specs.extend(_scanners(options, image_px))
    return specs


def _cloud(options: DemoOptions, frames: str) -> ChildSpec:
    argv = leakguard_argv(
        "worker", "--role", "cloud", "--frame-store", frames, "--worker-id", "demo-cloud",
        "--unreviewed-after", f"{options.deadline_s:g}", "--expiry-check", f"{EXPIRY_CHECK_S:g}",
        "--loglevel", "info",
    )  # fmt: skip
    return ChildSpec("cloud", argv, STAGE_WORKERS, ready_line=WORKER_READY_LINE)


def _edges(options: DemoOptions, frames: str, model: Path) -> list[ChildSpec]:
    return [
        ChildSpec(
            f"edge-{number}",
            leakguard_argv(
                "worker", "--role", "edge", "--model", str(model), "--frame-store", frames,
                "--alarm-threshold", f"{options.alarm_threshold:g}",
                "--worker-id", f"demo-edge-{number}", "--loglevel", "info",
                *(("--tip-rate", f"*={options.tip_rate:g}") if options.tip_rate else ()),
            ),
            STAGE_WORKERS,
            ready_line=WORKER_READY_LINE,
        )
        for number in range(1, options.edge_workers + 1)
    ]  # fmt: skip


def _guards(options: DemoOptions) -> ChildSpec:
    argv = leakguard_argv(
        "scanner", "guards", "--delay", f"{options.guard_delay_s:g}",
        "--miss-rate", f"{options.guard_miss_rate:g}",
        "--mistake-rate", f"{options.guard_mistake_rate:g}", "--seed", str(options.seed),
        *(
            arg
            for number, rate in enumerate(options.guard_miss_rates, start=1)
            for arg in ("--guard", f"sim-guard-{number}={rate:g}")
        ),
    )  # fmt: skip
    return ChildSpec("guards", argv, STAGE_REVIEW, ready_line=GUARDS_READY_LINE)


def _consoles(options: DemoOptions, frames: str, *, runs_sink: bool) -> list[ChildSpec]:
    """One console per checkpoint; each starts alone, so the first one holds chdb's lock
    before the next one tries to open it (and then serves guards without the overview)."""
    lanes = [arg for lane in range(1, options.lanes + 1) for arg in ("--lane", str(lane))]
    specs = []
    for index, checkpoint in enumerate(options.checkpoint_ids):
        with_sink = runs_sink and index == 0
        argv = leakguard_argv(
            "console", "serve", "--host", options.host,
            "--port", str(options.console_port(index)), "--checkpoint", checkpoint, *lanes,
            "--frame-store", frames, "--sink" if with_sink else "--no-sink",
        )  # fmt: skip
        stage = STAGE_SINK if with_sink else STAGE_REVIEW
        name = f"console-{checkpoint}"
        specs.append(ChildSpec(name, argv, stage, CONSOLE_READY_LINE, start_alone=True))
    return specs


def _scanners(options: DemoOptions, image_px: int) -> list[ChildSpec]:
    return [
        ChildSpec(
            f"scanner-{checkpoint}",
            leakguard_argv(
                "scanner", "simulate", "--checkpoint", checkpoint, "--lanes", str(options.lanes),
                "--rate", f"{options.rate_hz:g}", "--size", str(image_px),
                "--seed", str(options.seed + index),
            ),
            STAGE_SCANNERS,
            ready_line=SCANNER_READY_LINE,
        )
        for index, checkpoint in enumerate(options.checkpoint_ids)
    ]  # fmt: skip


def require_free_ports(options: DemoOptions) -> None:
    """Fail before anything starts when a console port is taken."""
    if not options.consoles:
        return
    for index, checkpoint in enumerate(options.checkpoint_ids):
        port = options.console_port(index)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((options.host, port))
            except OSError as exc:
                raise DemoError(
                    f"port {port} on {options.host} (console of {checkpoint}) is taken "
                    f"({exc.strerror}); stop what listens there or pass --port"
                ) from exc


@contextlib.contextmanager
def run_directory(settings: LeakguardSettings) -> Iterator[Path]:
    """``<data dir>/demo``, emptied for this run and locked against a second demo."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    run_dir = settings.data_dir / "demo"
    with (settings.data_dir / "demo.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise DemoError(
                f"another leakguard demo runs with data dir {settings.data_dir}; stop it first"
            ) from exc
        shutil.rmtree(run_dir, ignore_errors=True)
        (run_dir / "logs").mkdir(parents=True)
        yield run_dir


def frames_dir(run_dir: Path) -> Path:
    """The demo's frame store: the edges stage, the cloud keeps, consoles and the
    annotation bridge read."""
    return run_dir / "frames"


def child_environment(
    run_dir: Path, bootstrap_servers: str, *, edge_workers: int
) -> dict[str, str]:
    """The children's environment: ours, with the demo's broker and data dir.

    Unless you set them: detections and verdicts are tagged with the demo's producer keys
    (:func:`add_demo_event_keys`), every checkpoint is auto-labelled (the demo has no
    annotators), and
    torch's intra-op threads (``OMP_NUM_THREADS``) are split between the edge workers, so
    several workers do not each take every core. (One worker keeps torch's default, every
    core: the ``edge`` preset answered at p50 2.8 s with two threads, 5.9 s with one, on
    the shared 2-core machine. A tiny model does better with one; tests set that.)"""
    threads = max(1, len(os.sched_getaffinity(0)) // edge_workers)
    return {
        "OMP_NUM_THREADS": str(threads),
        "LEAKGUARD_SECURITY__EVENT_KEYRING": str(event_keyring_path(run_dir)),
        **AUTO_LABEL_ENV,
        **os.environ,
        "LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS": bootstrap_servers,
        "LEAKGUARD_DATA_DIR": str(run_dir),
        # The annotation bridge reads the images the cloud keeps, and nothing else.
        "LEAKGUARD_ANNOTATION__FRAME_STORE_URL": str(frames_dir(run_dir)),
    }


def event_keyring_path(run_dir: Path) -> Path:
    """The demo's producer keyring."""
    return run_dir / "keys" / "events.json"


def add_demo_event_keys(run_dir: Path, options: DemoOptions) -> None:
    """Producer keys for the demo's children (kept across runs of one data dir): each
    checkpoint's scanner and console its own; the edges, the simulated guards and the cloud
    worker serve every checkpoint."""
    from schemas.authenticity import add_keys

    own = [f"{role}:{cp}" for cp in options.checkpoint_ids for role in ("scanner", "guard")]
    add_keys(event_keyring_path(run_dir), ["edge:*", "guard:*", "cloud:*", "annotator:*", *own])


def add_demo_guard(run_dir: Path) -> None:
    """Create the demo's console account where the consoles (data dir ``run_dir``) look."""
    from streams.console.accounts import default_guards_path, ensure_guard

    ensure_guard(default_guards_path(run_dir), DEMO_GUARD, DEMO_PASSWORD)


def write_json(path: Path, data: object) -> None:
    """Write ``data`` as JSON atomically (readers never see half a file)."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=2))
    partial.replace(path)


@contextlib.contextmanager
def signals_stop_the_run() -> Iterator[Callable[[], None]]:
    """SIGINT and SIGTERM end the run like Ctrl-C (``KeyboardInterrupt``); the yielded
    function makes both ignored for an orderly stop that must not be cut short.

    SIGINT is set too: a process started in the background by a non-interactive shell
    (``leakguard demo &`` in a script, CI) inherits SIGINT ignored, and ``kill -INT`` would
    otherwise do nothing."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, signal.default_int_handler)

    def shield() -> None:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)

    try:
        yield shield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
