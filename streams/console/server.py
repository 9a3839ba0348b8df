"""Running one console: the feed and sink threads, the web server, and a clean stop.

``leakguard console serve`` builds a :class:`ConsoleConfig` from the settings and calls
:func:`run_console`. The web server is uvicorn; SIGINT and SIGTERM end live views at once,
let uvicorn finish the requests in flight, then stop the threads, deliver what the
publisher still holds and close the queue, and :func:`run_console` returns normally. A
thread sends the verdicts the outbox still holds (at start: what a killed console left).

Embedded chdb is in-process: a second process cannot open the chdb directory the sink
process holds (chdb locks it; ``tests/streams/console/test_console_analytics.py`` shows it). So
with embedded analytics the console runs the ClickHouse sink itself, in a thread, and its
overview reads the same session through a lock. With a ClickHouse server the sink runs on
its own (``leakguard analytics sink``) and the console only queries.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Final

import uvicorn

from schemas.authenticity import EventKeyring
from schemas.images import ImageReader
from schemas.topics import Topics
from streams.console.accounts import GuardStore
from streams.console.app import create_app
from streams.console.audit import AuditLog, default_audit_path
from streams.console.exceptions import ConsoleError
from streams.console.feed import FrameFeed
from streams.console.outbox import VerdictOutbox
from streams.console.publisher import VerdictPublisher
from streams.console.review_queue import ReviewQueue
from streams.console.services import ConsoleServices, OverviewSource
from streams.console.session_store import SessionStore
from streams.console.sessions import DEFAULT_SESSION_TTL_S, SessionSigner, load_or_create_secret

__all__ = ["ConsoleConfig", "SinkRunner", "run_console"]

logger = logging.getLogger(__name__)

#: Requests still running this long after a stop signal are cut: a verdict takes < 1 s.
GRACEFUL_SHUTDOWN_S: Final = 5
#: How long stopping waits for the feed and sink threads to finish their step.
THREAD_JOIN_S: Final = 30.0

#: Something that consumes until its event is set (the ClickHouse sink worker).
SinkRunner = Callable[[threading.Event], None]


@dataclass(frozen=True, kw_only=True)
class ConsoleConfig:
    """One console's options.

    - ``checkpoint``: the checkpoint whose lanes it serves; ``lanes``: the lanes guards may
      sign in to (empty: any lane the checkpoint has sent a frame of).
    - ``bootstrap_servers`` / ``client_config``: Kafka and its security options.
    - ``topics``: topic names (prefixed in tests).
    - ``state_dir``: where the queue database (with the verdict outbox), the session key,
      the sessions database and the audit log live.
    - ``guards_file``: the accounts file (see ``streams.console.accounts``).
    - ``host`` / ``port``: where to listen (``port=0`` picks a free port).
    - ``session_ttl_s``: session lifetime (8 h); ``secure_cookies``: served over TLS
      (cookies ``Secure``, HSTS sent).
    - ``frame_store_url``: the edge's frame store, the only place frame images are read
      from (a detection linking anywhere else alarms without its image).
    - ``event_keyring``: keyring of producer keys (:mod:`schemas.authenticity`; None: no
      tags). The console tags its verdicts with the checkpoint's guard key and shows only
      detections tagged by the checkpoint's edge.
    """

    checkpoint: str
    bootstrap_servers: str
    state_dir: Path
    guards_file: Path
    lanes: tuple[str, ...] = ()
    client_config: dict[str, str] = field(default_factory=dict)
    topics: Topics = field(default_factory=Topics)
    host: str = "127.0.0.1"
    port: int = 8080
    session_ttl_s: float = DEFAULT_SESSION_TTL_S
    secure_cookies: bool = False
    frame_store_url: str = ".leakguard/frames"
    event_keyring: Path | None = None

    def __post_init__(self) -> None:
        if not self.checkpoint:
            raise ConsoleError("a console serves one checkpoint: --checkpoint is empty")
        if not 0 <= self.port <= 65535:
            raise ConsoleError(f"port {self.port} is not within 0-65535")


class _Server(uvicorn.Server):
    """uvicorn that also ends live views on a stop signal and does not re-raise the signal
    after shutting down (uvicorn's default), so the caller's clean-up runs and exits 0."""

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        stopping: threading.Event,
        on_ready: Callable[[str], None],
    ) -> None:
        super().__init__(config)
        self.stopping = stopping
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Listen, then report the address (the sockets are open at this point)."""
        await super().startup(sockets)
        if self.started and not self.should_exit:
            self._on_ready(self.bound_url())

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stopping.set()
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {
            sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def bound_url(self) -> str:
        """``http://host:port`` of the listening socket (the real port when 0 was asked)."""
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"


def run_console(
    config: ConsoleConfig,
    *,
    overview: OverviewSource | None = None,
    overview_error: str | None = None,
    sink: SinkRunner | None = None,
    on_ready: Callable[[str], None] = lambda url: None,
) -> None:
    """Serve the console until SIGINT/SIGTERM; ``on_ready(url)`` once it accepts requests.

    ``overview`` answers the overview page (``None``: the page shows ``overview_error``);
    ``sink`` runs in a thread alongside (the in-process ClickHouse sink for embedded chdb).
    """
    keyring = None if config.event_keyring is None else EventKeyring.load(config.event_keyring)
    guards = GuardStore(config.guards_file)
    signer = SessionSigner(
        load_or_create_secret(config.state_dir / "session.key"),
        checkpoint=config.checkpoint,
        ttl_s=config.session_ttl_s,
    )
    sessions = SessionStore(
        config.state_dir / "sessions.sqlite", signer=signer, credentials=guards.credential
    )
    queue = ReviewQueue(config.state_dir / f"queue-{_safe(config.checkpoint)}.sqlite")
    threads: list[threading.Thread] = []
    stop = threading.Event()
    publisher: VerdictPublisher | None = None
    try:
        feed = FrameFeed(
            bootstrap_servers=config.bootstrap_servers,
            client_config=config.client_config,
            topics=config.topics,
            queue=queue,
            checkpoint=config.checkpoint,
            lanes=config.lanes,
            images=ImageReader(roots=(config.frame_store_url,)),
            keyring=keyring,
        )
        feed.assign()
        publisher = VerdictPublisher(
            bootstrap_servers=config.bootstrap_servers,
            client_config=config.client_config,
            topic=config.topics.verdicts,
            tag=None if keyring is None else keyring.tagger("guard", config.checkpoint),
        )
        outbox = VerdictOutbox(queue=queue, publish=publisher.publish)
        services = ConsoleServices(
            checkpoint=config.checkpoint,
            lanes=config.lanes,
            guards=guards,
            signer=signer,
            sessions=sessions,
            queue=queue,
            changes=feed.changes,
            outbox=outbox,
            audit=AuditLog(default_audit_path(config.state_dir), checkpoint=config.checkpoint),
            overview=overview,
            overview_error=overview_error,
            secure_cookies=config.secure_cookies,
        )
        server = _Server(
            uvicorn.Config(
                create_app(services),
                host=config.host,
                port=config.port,
                log_level="warning",
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
                lifespan="off",
            ),
            stopping=services.stopping,
            on_ready=on_ready,
        )
        runners: list[tuple[str, SinkRunner]] = [("feed", feed.run), ("outbox", outbox.run)]
        if sink is not None:
            runners.append(("sink", sink))
        crashes: list[str] = []
        for name, runner in runners:
            thread = threading.Thread(
                target=_guarded(name, runner, server, crashes), args=(stop,), name=f"console-{name}"
            )
            thread.start()
            threads.append(thread)
        _serve(server)
        if crashes:
            raise ConsoleError(f"console stopped: {'; '.join(crashes)}")
    finally:
        stop.set()
        for thread in threads:
            thread.join(THREAD_JOIN_S)
        if publisher is not None:
            publisher.close()
        sessions.close()
        queue.close()


def _serve(server: _Server) -> None:
    """Run uvicorn until a stop signal; a failed bind is a clear error."""
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits when it cannot bind
        server.should_exit = True
        raise ConsoleError(
            f"cannot serve on {server.config.host}:{server.config.port} (port taken?)"
        ) from exc


def _guarded(
    name: str, runner: SinkRunner, server: _Server, crashes: list[str]
) -> Callable[[threading.Event], None]:
    """``runner``, stopping the whole console if it crashes: a console whose feed died would
    show a quiet lane while alarms go unseen, and a dead sink would freeze the overview, so
    the process exits with the reason and its supervisor sees it."""

    def run(event: threading.Event) -> None:
        try:
            runner(event)
        except Exception as exc:
            logger.exception("console %s thread crashed", name)
            crashes.append(f"the {name} thread crashed: {type(exc).__name__}: {exc}")
            server.stopping.set()
            server.should_exit = True

    return run


def _safe(name: str) -> str:
    """A checkpoint id as part of a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
