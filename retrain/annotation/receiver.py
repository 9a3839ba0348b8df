"""The bridge's HTTP side: Label Studio's webhooks in, frame images out.

* ``POST /webhook`` — Label Studio posts every created or updated annotation here. It waits
  at most a second for the answer (its ``WEBHOOK_TIMEOUT``), so the body is only checked
  (shared secret, JSON with an ``action``) and stored in the state's inbox; the bridge loop
  turns it into an event. A webhook that is lost anyway is picked up by polling.
* ``GET /images/{task_id}`` — the frame image of a task the bridge created, read from the
  frame store and verified against its SHA-256. Only images of known tasks are served, so
  the endpoint cannot be used to read arbitrary frame-store paths.
* ``GET /health``.

FastAPI served by uvicorn in a background thread of the bridge process.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from typing import Annotated, Final

import uvicorn
from fastapi import FastAPI, Header, HTTPException, Request, Response

from retrain.annotation.exceptions import AnnotationError
from retrain.annotation.state import BridgeState
from schemas.events import ImageLink
from schemas.exceptions import ImageRejectedError
from schemas.images import ImageReader

__all__ = ["SECRET_HEADER", "ReceiverServer", "receiver_app"]

#: The header carrying the shared webhook secret (set on the webhook by ``annotate setup``).
SECRET_HEADER: Final = "X-Leakguard-Webhook-Secret"
#: Largest webhook body accepted: an annotation with hundreds of boxes is well under 1 MiB.
MAX_WEBHOOK_BYTES: Final = 4 * 1024 * 1024
#: How long ``start`` waits for the server to listen.
STARTUP_TIMEOUT_S: Final = 30.0


def receiver_app(*, state: BridgeState, webhook_secret: str | None, images: ImageReader) -> FastAPI:
    """The FastAPI app of the receiver over ``state``; task images are read through
    ``images`` (confined to the frame store)."""
    app = FastAPI(title="leakguard annotation bridge", docs_url=None, redoc_url=None)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhook")
    async def webhook(
        request: Request,
        secret: Annotated[str | None, Header(alias=SECRET_HEADER)] = None,
    ) -> dict[str, bool]:
        if webhook_secret is not None and not hmac.compare_digest(
            (secret or "").encode(), webhook_secret.encode()
        ):
            raise HTTPException(status_code=401, detail=f"missing or wrong {SECRET_HEADER}")
        body = await request.body()
        if len(body) > MAX_WEBHOOK_BYTES:
            raise HTTPException(status_code=413, detail="webhook body too large")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise HTTPException(status_code=400, detail="webhook body is not JSON") from exc
        if not isinstance(payload, dict) or "action" not in payload:
            raise HTTPException(status_code=400, detail="webhook body has no action")
        state.push_webhook(body)
        return {"accepted": True}

    @app.get("/images/{task_id}")
    def image(task_id: str) -> Response:
        created = state.task(task_id)
        if created is None:
            raise HTTPException(status_code=404, detail="no such task")
        try:
            data = images.link(ImageLink(uri=created.image_uri, sha256=created.image_sha256))
        except ImageRejectedError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        # Content-addressed (the SHA-256 is fixed per task): browsers may cache it for good.
        headers = {"Cache-Control": "private, max-age=31536000, immutable"}
        return Response(content=data, media_type="image/png", headers=headers)

    return app


class ReceiverServer:
    """Runs ``app`` with uvicorn on ``host:port`` (0: a free port) in a daemon thread."""

    def __init__(self, app: FastAPI, *, host: str, port: int) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name="annotation-receiver", daemon=True
        )
        self.host = host

    @property
    def port(self) -> int:
        """The port the server listens on."""
        sockets = self._server.servers[0].sockets if self._server.servers else []
        if not sockets:
            raise AnnotationError("the annotation receiver is not listening")
        port: int = sockets[0].getsockname()[1]
        return port

    def start(self) -> None:
        """Start serving and wait until the socket listens."""
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise AnnotationError(
                    f"the annotation receiver did not start on {self.host} (port in use?)"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
