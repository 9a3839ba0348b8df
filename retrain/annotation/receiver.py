"""The bridge's HTTP side: Label Studio's webhooks in, frame images out.

* ``POST /webhook`` — Label Studio posts every created or updated annotation here. It waits
  at most a second for the answer (its ``WEBHOOK_TIMEOUT``), so the body is only checked
  (shared secret, size, JSON with an ``action``) and stored in the state's inbox; the bridge
  loop turns it into an event. A webhook that is lost anyway is picked up by polling.
* ``GET /images/{task_id}?expires=..&token=..`` — the frame image of a task the bridge
  created, read from the frame store and verified against its SHA-256, for a URL the bridge
  signed (:mod:`retrain.annotation.image_urls`). Only images of known tasks are served, so
  the endpoint cannot be used to read arbitrary frame-store paths.
* ``GET /health``.

There is no unauthenticated mode: the app is not built without a secret. A request without
the right secret or signature is refused before anything is read or looked up, so a
refusal tells nothing about which tasks exist. A webhook body is read in chunks and refused
as soon as it passes :data:`MAX_WEBHOOK_BYTES` (or its ``Content-Length`` says it would),
so a large body costs the bridge no more memory than the cap.

FastAPI served by uvicorn in a background thread of the bridge process.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from typing import Annotated, Final

import uvicorn
from fastapi import FastAPI, Header, HTTPException, Query, Request, Response

from retrain.annotation.exceptions import AnnotationError
from retrain.annotation.image_urls import EXPIRES_PARAM, TOKEN_PARAM, ImageUrlSigner
from retrain.annotation.secret import check_secret
from retrain.annotation.state import BridgeState
from schemas.events import ImageLink
from schemas.exceptions import ImageRejectedError
from schemas.images import ImageReader

__all__ = ["MAX_WEBHOOK_BYTES", "SECRET_HEADER", "ReceiverServer", "receiver_app"]

#: The header carrying the shared webhook secret (set on the webhook by ``annotate setup``).
SECRET_HEADER: Final = "X-Leakguard-Webhook-Secret"
#: Largest webhook body accepted: an annotation with hundreds of boxes is well under 1 MiB.
MAX_WEBHOOK_BYTES: Final = 4 * 1024 * 1024
#: How long ``start`` waits for the server to listen.
STARTUP_TIMEOUT_S: Final = 30.0


async def _bounded_body(request: Request, *, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to pass ``limit`` bytes: from
    its ``Content-Length`` before reading, else while the chunks arrive."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(status_code=413, detail="webhook body too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(status_code=413, detail="webhook body too large")
    return bytes(body)


def receiver_app(
    *,
    state: BridgeState,
    webhook_secret: str,
    images: ImageReader,
    image_urls: ImageUrlSigner | None = None,
) -> FastAPI:
    """The FastAPI app of the receiver over ``state``; task images are read through
    ``images`` (confined to the frame store).

    ``webhook_secret`` is required (:func:`~retrain.annotation.secret.check_secret`);
    ``image_urls`` checks image URLs and is built from it when absent.
    """
    checked = check_secret(webhook_secret, source="the receiver's settings")
    secret = checked.encode()
    signer = image_urls if image_urls is not None else ImageUrlSigner(checked)
    app = FastAPI(title="leakguard annotation bridge", docs_url=None, redoc_url=None)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhook")
    async def webhook(
        request: Request,
        given: Annotated[str | None, Header(alias=SECRET_HEADER)] = None,
    ) -> dict[str, bool]:
        if not hmac.compare_digest((given or "").encode(), secret):
            raise HTTPException(status_code=401, detail=f"missing or wrong {SECRET_HEADER}")
        body = await _bounded_body(request, limit=MAX_WEBHOOK_BYTES)
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise HTTPException(status_code=400, detail="webhook body is not JSON") from exc
        if not isinstance(payload, dict) or "action" not in payload:
            raise HTTPException(status_code=400, detail="webhook body has no action")
        state.push_webhook(body)
        return {"accepted": True}

    @app.get("/images/{task_id}")
    def image(
        task_id: str,
        expires: Annotated[str | None, Query(alias=EXPIRES_PARAM)] = None,
        token: Annotated[str | None, Query(alias=TOKEN_PARAM)] = None,
    ) -> Response:
        if not signer.verify(task_id, expires=expires, token=token):
            raise HTTPException(status_code=403, detail="missing, wrong or expired image URL")
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
