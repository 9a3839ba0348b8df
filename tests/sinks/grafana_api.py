"""A local HTTP endpoint that answers as Grafana's HTTP API documentation describes.

No Grafana server can be installed here. This endpoint implements the calls leakguard makes,
as documented (https://grafana.com/docs/grafana/latest/developers/http_api/dashboard/ and
.../annotations/): ``POST /api/dashboards/db``, ``POST /api/annotations`` (body
``dashboardUID``, ``time`` and ``timeEnd`` in epoch ms, ``tags``, ``text``; answer
``{"message": "Annotation added", "id": n}``) and ``GET /api/annotations`` (filters
``dashboardUID``, ``type``, ``limit`` and ``tags``, all tags required, as Grafana does
without ``matchAny``). It refuses requests without a ``Bearer`` token (401) and malformed
bodies (400), keeps the annotations it accepted, records every request, and can fail the
first ``fail_first`` requests with 503 to play an unavailable Grafana.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from tests.sinks.http_helpers import serving


class GrafanaAPI(BaseHTTPRequestHandler):
    """One Grafana's state lives on the class: use :func:`grafana_api` for a fresh one."""

    received: ClassVar[list[dict[str, Any]]]
    annotations: ClassVar[list[dict[str, Any]]]
    fail_with: ClassVar[int | None]
    fail_first: ClassVar[int]
    lock: ClassVar[threading.Lock]

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if not self._accepted("GET", url.path, None):
            return
        if url.path != "/api/annotations":
            self._answer(404, {"message": "Not found"})
            return
        query = parse_qs(url.query)
        wanted_tags = set(query.get("tags", []))
        found = [
            a
            for a in self.annotations
            if wanted_tags <= set(a["tags"])
            and query.get("dashboardUID", [a["dashboardUID"]])[0] == a["dashboardUID"]
            and query.get("type", ["annotation"])[0] == "annotation"
        ]
        limit = int(query.get("limit", ["100"])[0])
        self._answer(200, sorted(found, key=lambda a: -a["time"])[:limit])

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self._accepted("POST", self.path, body):
            return
        if self.path == "/api/dashboards/db":
            uid = body["dashboard"]["uid"]
            self._answer(
                200, {"id": 1, "uid": uid, "url": f"/d/{uid}", "status": "success", "version": 1}
            )
        elif self.path == "/api/annotations":
            self._add_annotation(body)
        else:
            self._answer(404, {"message": "Not found"})

    def _accepted(self, method: str, path: str, body: Any) -> bool:
        """Record the request; answer an error and return False when it must fail."""
        auth = self.headers["Authorization"] or ""
        with self.lock:
            self.received.append({"method": method, "path": self.path, "auth": auth, "body": body})
            failing = type(self).fail_first > 0
            if failing:
                type(self).fail_first -= 1
        if failing:
            self._answer(503, {"message": "Service unavailable"})
        elif self.fail_with is not None:
            self._answer(self.fail_with, {"message": "Access denied"})
        elif not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
            self._answer(401, {"message": "Unauthorized"})
        else:
            return True
        return False

    def _add_annotation(self, body: dict[str, Any]) -> None:
        valid = (
            isinstance(body.get("dashboardUID"), str)
            and isinstance(body.get("time"), int)
            and isinstance(body.get("timeEnd"), int | None)
            and isinstance(body.get("text"), str)
            and body["text"]
            and isinstance(body.get("tags"), list)
            and all(isinstance(tag, str) for tag in body["tags"])
        )
        if not valid:
            self._answer(400, {"message": "bad annotation"})
            return
        with self.lock:
            annotation = {
                "id": len(self.annotations) + 1,
                "dashboardUID": body["dashboardUID"],
                "panelId": body.get("panelId") or 0,
                "time": body["time"],
                "timeEnd": body.get("timeEnd") or body["time"],
                "text": body["text"],
                "tags": body["tags"],
            }
            self.annotations.append(annotation)
        self._answer(200, {"message": "Annotation added", "id": annotation["id"]})

    def _answer(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@contextmanager
def grafana_api() -> Iterator[tuple[str, type[GrafanaAPI]]]:
    """A fresh Grafana API endpoint: yields its base URL and its handler class (the state)."""
    state = {
        "received": [],
        "annotations": [],
        "fail_with": None,
        "fail_first": 0,
        "lock": threading.Lock(),
    }
    handler = type("Grafana", (GrafanaAPI,), state)
    with serving(handler) as url:
        yield url, handler
