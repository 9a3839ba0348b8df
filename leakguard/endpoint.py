"""The operations endpoint of a long-running process: ``/metrics``, ``/healthz``, ``/livez``.

One small HTTP server per process on its metrics port, in a daemon thread, so Prometheus,
a load balancer and an orchestrator's probes reach every role the same way:

- ``/metrics``: the process's Prometheus registry (text format);
- ``/healthz``: the :class:`~leakguard.health.HealthReport` as JSON, 200 when ready, 503
  otherwise (a readiness probe, and what an operator reads);
- ``/livez``: the same JSON, 200 while alive even if not ready (a liveness probe: restart
  only a process that is stuck, not one whose broker is down).

A scrape or probe never touches the process's own loop: checks read state the loop leaves
behind (:mod:`leakguard.health`).
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from leakguard.errors import LeakguardError
from leakguard.health import Health

__all__ = ["OpsEndpoint"]

#: Every address: the endpoint is scraped from outside the host (a container's port).
DEFAULT_HOST: Final[str] = "0.0.0.0"
_JSON: Final[str] = "application/json"


class OpsEndpoint:
    """Serves ``registry`` and ``health`` on ``host:port`` (port 0: any free one, see
    :attr:`port`) from :meth:`start` until :meth:`stop`; a port that cannot be bound raises
    :class:`~leakguard.errors.LeakguardError` at once."""

    def __init__(
        self,
        *,
        port: int,
        registry: CollectorRegistry,
        health: Health,
        host: str = DEFAULT_HOST,
    ) -> None:
        self.registry = registry
        self.health = health
        try:
            self._server = ThreadingHTTPServer((host, port), _handler(self))
        except OSError as exc:  # a port another process holds: say which, not a traceback
            where = f"{host}:{port}"
            raise LeakguardError(f"cannot serve /metrics and /healthz on {where}: {exc}") from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ops-endpoint", daemon=True
        )

    @property
    def port(self) -> int:
        """The port it listens on (the free one chosen for port 0)."""
        port: int = self._server.server_address[1]
        return port

    def start(self) -> OpsEndpoint:
        """Serve in a daemon thread; returns itself."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str) -> tuple[int, str, bytes]:
        """``(status, content type, body)`` for a GET of ``path`` (query string ignored)."""
        route = path.split("?", 1)[0].rstrip("/") or "/"
        if route == "/metrics":
            return HTTPStatus.OK, CONTENT_TYPE_LATEST, generate_latest(self.registry)
        if route in ("/healthz", "/livez"):
            report = self.health.report()
            ok = report.ready if route == "/healthz" else report.live
            status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
            return status, _JSON, json.dumps(report.to_json()).encode()
        return HTTPStatus.NOT_FOUND, "text/plain", b"not found: /metrics, /healthz, /livez\n"


def _handler(endpoint: OpsEndpoint) -> type[BaseHTTPRequestHandler]:
    """A request handler bound to ``endpoint`` (http.server builds one per request)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = endpoint.answer(self.path)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: a scrape every few seconds would drown the process's own log."""

    return Handler
