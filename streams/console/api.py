"""The console's JSON API and its live event stream.

Live updates use Server-Sent Events: updates flow one way (server to guard), the browser's
``EventSource`` reconnects by itself, and plain HTTP passes every proxy a checkpoint network
has. Each event only says "the queue changed"; the page then re-reads ``/api/queue``, so a
missed event costs a moment, never a frame.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field

from leakguard.errors import LeakguardError
from schemas.events import Detection, GuardVerdict
from streams.console.auth import ApiSession, CheckedSession, Services
from streams.console.exceptions import FrameNotFoundError, VerdictError
from streams.console.review_queue import QueueItem
from streams.console.verdicts import build_verdict, class_correction, missed_item
from streams.logic.tip import tip_found

__all__ = ["item_json", "router"]

router = APIRouter(prefix="/api")
logger = logging.getLogger(__name__)

#: The overview's window: a day by default, at most the 90 days analytics are kept for.
DEFAULT_WINDOW_H: Final = 24.0
MAX_OVERVIEW_HOURS: Final = 90 * 24.0
#: How often a live view checks for queue changes: far below the alarm's latency budget.
LIVE_CHECK_S: Final = 0.05


class MissedItemIn(BaseModel):
    """A box the guard drew: ``[x1, y1, x2, y2]`` in image pixels, and its class."""

    class_name: str = Field(max_length=32)
    box: list[float] = Field(min_length=4, max_length=4)


class ClassCorrectionIn(BaseModel):
    """An alarm the guard confirmed as another storage medium (a tablet alarmed as a laptop)."""

    object_id: str = Field(max_length=64)
    class_name: str = Field(max_length=32)


class VerdictIn(BaseModel):
    """The guard's answer: the alarmed objects cleared, the missed items drawn and the
    classes corrected.

    ``response_ms`` is how long the alarm was on the guard's screen before this answer,
    measured by the page on its monotonic clock (``None`` when the page never showed it,
    e.g. an answer sent before the image loaded).
    """

    rejected_object_ids: list[str] = Field(default_factory=list, max_length=100)
    missed_items: list[MissedItemIn] = Field(default_factory=list, max_length=50)
    class_corrections: list[ClassCorrectionIn] = Field(default_factory=list, max_length=100)
    response_ms: int | None = Field(default=None, ge=0)


def item_json(item: QueueItem) -> dict[str, Any]:
    """A frame as the console page draws it; boxes are ``[x1, y1, x2, y2]`` pixels of the
    view an object names (``view_id``, null: the primary image); ``views`` are the frame's
    extra views (#20) in frame order, each with its own image URL."""
    detection = item.detection
    return {
        "id": item.id,
        "checkpoint": item.checkpoint,
        "lane": item.lane,
        "frame_id": item.frame_id,
        "received_ms": item.received_ms,
        "image_url": f"/api/frames/{item.id}/image" if item.has_image else None,
        "image_error": item.image_error,
        "reviewed_by": item.reviewed_by,
        "alarmed": item.alarmed,
        "detection": {
            "model_version": detection.model_version,
            "width": detection.image_width,
            "height": detection.image_height,
            "objects": [
                {
                    "object_id": obj.object_id,
                    "class_name": obj.class_name,
                    "score": obj.score,
                    "box": [obj.box.x1, obj.box.y1, obj.box.x2, obj.box.y2],
                    "alarmed": obj.alarmed,
                    "view_id": obj.view_id,
                    "item_id": obj.item_id,
                }
                for obj in detection.objects
            ],
            "views": [
                {
                    "view_id": view.view_id,
                    "width": view.image_width,
                    "height": view.image_height,
                    "image_url": f"/api/frames/{item.id}/views/{index}/image"
                    if item.view_errors.get(view.view_id, "") is None
                    else None,
                    "image_error": item.view_errors.get(view.view_id),
                }
                for index, view in enumerate(detection.views)
            ],
        },
    }


@router.get("/queue")
def queue_state(session: ApiSession, services: Services) -> dict[str, Any]:
    """The guard's lane: frames awaiting review (oldest first) and the live frame."""
    live = services.queue.latest(session.lane)
    return {
        "guard": session.guard,
        "checkpoint": services.checkpoint,
        "lane": session.lane,
        "version": services.changes.version,
        "pending": [item_json(item) for item in services.queue.pending([session.lane])],
        "live": None if live is None else item_json(live),
    }


@router.get("/frames/{item_id}/image")
def frame_image(item_id: int, session: ApiSession, services: Services) -> Response:
    """The frame's verified PNG, for a guard of the frame's lane only (403 otherwise)."""
    try:
        if services.queue.item(item_id).lane != session.lane:
            raise HTTPException(403, f"frame {item_id} is not on your lane {session.lane}")
        png = services.queue.image(item_id)
    except FrameNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    return Response(png, media_type="image/png", headers={"Cache-Control": "private"})


@router.get("/frames/{item_id}/views/{index}/image")
def view_image(item_id: int, index: int, session: ApiSession, services: Services) -> Response:
    """The verified PNG of the frame's extra view number ``index`` (0-based, frame order),
    for a guard of the frame's lane only (403 otherwise)."""
    try:
        item = services.queue.item(item_id)
        if item.lane != session.lane:
            raise HTTPException(403, f"frame {item_id} is not on your lane {session.lane}")
        views = item.detection.views
        if not 0 <= index < len(views):
            raise HTTPException(404, f"frame {item_id} has no view {index}")
        png = services.queue.view_image(item_id, views[index].view_id)
    except FrameNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    return Response(png, media_type="image/png", headers={"Cache-Control": "private"})


@router.post("/frames/{item_id}/verdict")
def submit_verdict(
    item_id: int,
    answer: VerdictIn,
    session: CheckedSession,
    services: Services,
    response: Response,
) -> dict[str, Any]:
    """Answer a frame of the guard's lane with one ``GuardVerdict`` by the signed-in guard.

    The verdict is stored with the frame's answer (the outbox, ``outbox.py``) before it is
    published: 200 once Kafka acknowledged it, 202 when Kafka did not in time (it stays in
    the outbox and is sent as soon as Kafka takes it; ``delivered`` says which). 404: not in
    the queue; 409: answered already; 422: the answer does not fit the frame. The guard's
    response time goes into the verdict, is logged and answered back, at most the time the
    console has held the frame (a page cannot have shown an alarm before the console
    received it). On a threat image projection frame the answer says so (``tip``: the
    projected medium and whether the verdict found it), only now that the guard has
    answered; ``null`` on every real frame.
    """
    try:
        item = services.queue.item(item_id)
    except FrameNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    if item.lane != session.lane:
        raise HTTPException(403, f"frame {item_id} is not on your lane {session.lane}")
    response_ms = None
    if answer.response_ms is not None:
        held_ms = max(0, int(time.time() * 1000) - item.received_ms)
        response_ms = min(answer.response_ms, held_ms)
    try:
        verdict = _verdict(item, answer, guard=session.guard, response_ms=response_ms)
    except VerdictError as exc:
        raise HTTPException(422, str(exc)) from exc
    try:
        delivered = services.outbox.submit(item_id, verdict)
    except FrameNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    except VerdictError as exc:
        raise HTTPException(409, str(exc)) from exc
    services.audit.verdict(
        guard=verdict.guard_id,
        lane=verdict.lane,
        frame_id=verdict.frame_id,
        decision=verdict.decision,
        verdict_id=str(verdict.event_id),
    )
    services.changes.bump()
    if not delivered:
        response.status_code = 202
    tip = None if item.detection.tip is None else tip_json(item.detection, verdict)
    if response_ms is not None:
        logger.info(
            "frame %s (lane %s) answered by %s (%s) %d ms after the alarm was shown",
            verdict.frame_id, verdict.lane, verdict.guard_id, verdict.decision, response_ms,
        )  # fmt: skip
    return {
        "verdict_id": str(verdict.event_id),
        "decision": verdict.decision,
        "guard_id": verdict.guard_id,
        "response_ms": response_ms,
        "delivered": delivered,
        "tip": tip,
    }


def tip_json(detection: Detection, verdict: GuardVerdict) -> dict[str, Any]:
    """What the page tells a guard who just answered a threat image projection frame: it was
    a test, of which medium where, and whether they found it. Only ever in the answer to a
    verdict: ``item_json`` never carries the projection, so the page cannot know before."""
    tip = detection.tip
    if tip is None:
        raise VerdictError(f"frame {detection.frame_id} carries no projection")
    return {
        "class_name": tip.class_name,
        "box": [tip.box.x1, tip.box.y1, tip.box.x2, tip.box.y2],
        "found": tip_found(detection, verdict),
    }


def _verdict(
    item: QueueItem, answer: VerdictIn, *, guard: str, response_ms: int | None
) -> GuardVerdict:
    """The ``GuardVerdict`` of ``answer`` on ``item``; :class:`VerdictError` if it does not
    fit the frame."""
    detection = item.detection
    missed = [
        missed_item(
            m.class_name,
            m.box,
            image_width=detection.image_width,
            image_height=detection.image_height,
        )
        for m in answer.missed_items
    ]
    return build_verdict(
        detection,
        guard_id=guard,
        rejected_object_ids=answer.rejected_object_ids,
        missed_items=missed,
        class_corrections=[
            class_correction(c.object_id, c.class_name) for c in answer.class_corrections
        ],
        response_ms=response_ms,
    )


@router.get("/events", response_class=EventSourceResponse)
async def events(session: ApiSession, services: Services) -> AsyncIterator[ServerSentEvent]:
    """A ``queue`` event whenever the queue changed; ends when the server stops."""
    sent = -1
    while not services.stopping.is_set():
        version = services.changes.version
        if version != sent:
            sent = version
            yield ServerSentEvent(event="queue", data={"version": version})
        await asyncio.sleep(LIVE_CHECK_S)


@router.get("/overview")
async def overview(
    session: ApiSession,
    services: Services,
    hours: Annotated[float, Query(gt=0, le=MAX_OVERVIEW_HOURS)] = DEFAULT_WINDOW_H,
) -> dict[str, Any]:
    """Every dashboard panel's rows over the last ``hours`` (503 without analytics)."""
    if services.overview is None:
        raise HTTPException(503, services.overview_error or "no analytics store")
    try:
        return await run_in_threadpool(services.overview, timedelta(hours=hours))
    except LeakguardError as exc:
        raise HTTPException(503, str(exc)) from exc
