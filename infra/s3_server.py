"""A disk-backed S3-compatible server on loopback: the durable storage of the embedded broker.

Tansu keeps every topic, offset and consumer group in its storage engine. With
``memory://`` that storage dies with the broker; with ``s3://<bucket>/`` Tansu writes it as
objects to an S3-compatible endpoint. ``s3rver`` (npm, installed by ``scripts/install.sh``
into the repository's ``node_modules``) is such an endpoint that keeps each object as a
file under a data directory, so a broker restarted against the same directory finds every
topic as it was.

``s3rver`` ignores the conditional-write headers (``If-Match``, ``If-None-Match``) that keep
several brokers sharing one bucket consistent; one embedded broker is the only writer here,
so that is safe. A fleet uses a real object store or Kafka cluster (see ``docs/deploy.md``).
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from infra.exceptions import BrokerError
from infra.processes import LOOPBACK, ServiceProcess

__all__ = [
    "BROKER_BUCKET",
    "S3Endpoint",
    "S3Server",
    "S3ServerCommand",
    "resolve_s3_server",
]

#: The bucket Tansu keeps its cluster in; created by the server at every start.
BROKER_BUCKET: Final = "tansu"
#: s3rver's fixed credentials: it checks signatures against them, and it listens on
#: loopback only, so they guard nothing and are no secret.
_ACCESS_KEY: Final = "S3RVER"
_SECRET_KEY: Final = "S3RVER"
#: Any region: s3rver has none, but the S3 client signs requests with one.
_REGION: Final = "us-east-1"
#: Node loads s3rver in about a second; 20 s leaves room for a loaded 2-core machine.
DEFAULT_STARTUP_TIMEOUT_S: Final = 20.0
#: Where install.sh puts the npm package: ``node_modules`` at the repository root.
_INSTALLED_SCRIPT: Final = (
    Path(__file__).resolve().parents[1] / "node_modules" / "s3rver" / "bin" / "s3rver.js"
)
_INSTALL_HINT: Final = "run scripts/install.sh (it installs the npm package s3rver)"


@dataclass(frozen=True, slots=True)
class S3ServerCommand:
    """How to run s3rver: the Node interpreter and the package's entry script."""

    node: str
    script: str


def resolve_s3_server() -> S3ServerCommand:
    """The Node interpreter and the s3rver script installed by ``scripts/install.sh``.

    Raises :class:`BrokerError` with the install hint when either is missing.
    """
    node = shutil.which("node")
    if node is None:
        raise BrokerError(f"durable storage needs Node.js (`node` is not on PATH): {_INSTALL_HINT}")
    if not _INSTALLED_SCRIPT.is_file():
        raise BrokerError(
            f"durable storage needs s3rver, not found at {_INSTALLED_SCRIPT}: {_INSTALL_HINT}"
        )
    return S3ServerCommand(node=node, script=str(_INSTALLED_SCRIPT))


@dataclass(frozen=True, slots=True)
class S3Endpoint:
    """Where an S3-compatible server listens, and how Tansu reaches it."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """The endpoint's base URL (plain HTTP: loopback only)."""
        return f"http://{self.host}:{self.port}"

    @property
    def storage_engine(self) -> str:
        """Tansu's ``--storage-engine`` value for the broker's bucket."""
        return f"s3://{BROKER_BUCKET}/"

    def broker_environment(self) -> dict[str, str]:
        """The variables Tansu's S3 client reads to find and sign for this endpoint."""
        return {
            "AWS_ENDPOINT": self.url,
            "AWS_ACCESS_KEY_ID": _ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": _SECRET_KEY,
            "AWS_REGION": _REGION,
            "AWS_DEFAULT_REGION": _REGION,
            "AWS_ALLOW_HTTP": "true",
        }


class S3Server(ServiceProcess):
    """s3rver as a child process on a loopback port, keeping its objects under ``data_dir``.

    Starting blocks until the broker's bucket answers a listing, so Tansu can use the
    endpoint as soon as :meth:`start` returns. ``die_with_parent=False`` is the detached
    lifetime of ``stack up`` (see :mod:`infra.broker`).
    """

    _name = "the S3 server"
    _error = BrokerError

    def __init__(
        self,
        *,
        data_dir: Path,
        command: S3ServerCommand | None = None,
        host: str = LOOPBACK,
        log_path: Path | None = None,
        die_with_parent: bool = True,
        startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
    ) -> None:
        self._data_dir = data_dir
        self._command = command
        self._host = host
        self._log_path = log_path
        self._die_with_parent = die_with_parent
        self._startup_timeout_s = startup_timeout_s
        self._endpoint: S3Endpoint | None = None

    @property
    def endpoint(self) -> S3Endpoint:
        """Where the running server listens."""
        if self._endpoint is None:
            raise BrokerError("the S3 server is not running")
        return self._endpoint

    def start(self) -> S3Endpoint:
        """Start the server and wait until the broker's bucket answers."""
        if self._process is None:
            command = self._command or resolve_s3_server()
            self._data_dir.mkdir(parents=True, exist_ok=True)
            self._start_on_free_port(
                lambda port: self._launch(command, S3Endpoint(self._host, port)),
                host=self._host,
                port=None,
            )
        return self.endpoint

    def _launch(self, command: S3ServerCommand, endpoint: S3Endpoint) -> None:
        argv = [
            command.node,
            # s3rver signs listing continuation tokens with DES, which OpenSSL 3 keeps in its
            # legacy provider: without it every listing past 1,000 keys fails (HTTP 500).
            "--openssl-legacy-provider",
            command.script,
            "--directory",
            str(self._data_dir),
            "--address",
            endpoint.host,
            "--port",
            str(endpoint.port),
            "--configure-bucket",
            BROKER_BUCKET,
            "--silent",  # one log line per request would fill the disk under load
        ]
        self._spawn(argv, log_path=self._log_path, tied_to_parent=self._die_with_parent)
        self._endpoint = endpoint
        # One key a page: over a stored bucket that makes a continuation token, so a restart
        # proves paged listings work before Tansu needs them.
        bucket_url = f"{endpoint.url}/{BROKER_BUCKET}?list-type=2&max-keys=1"

        def answers() -> bool:
            with urllib.request.urlopen(bucket_url, timeout=1.0) as response:
                return bool(response.status == 200)

        self._wait_until_ready(
            answers,
            timeout_s=self._startup_timeout_s,
            log_hint=f"see {self._log_path}",
            poll_s=0.05,
            retry_on=(urllib.error.URLError, OSError),
        )

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); idempotent."""
        self._endpoint = None
        super().stop()
