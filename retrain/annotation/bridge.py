"""The annotation bridge loop: ``annotation.tasks`` in, ``annotations`` out.

One step consumes a batch of ``AnnotationTask`` messages and handles each:

* undecodable, or its image missing from the frame store (or not matching its SHA-256) —
  dead-lettered with the reason and the original bytes;
* of an auto-labelled checkpoint — turned into an ``Annotation`` at once (``auto_label``);
* else — created as a Label Studio task. The state notes the task before creating it and
  its Label Studio id after, so a re-delivered task is never created twice; a task whose
  creation was cut off (crash, timeout) is looked up in Label Studio before a new try.

Offsets are committed only once the whole batch is handled and every produced event is
flushed. When Label Studio is down the batch is kept, the partitions are paused (the consumer
keeps polling, so it stays in its group) and the batch is retried with exponential back-off
until Label Studio is back: no task is lost and none is skipped.

Then the step turns new annotation versions into ``Annotation`` events: webhook bodies the
receiver stored, and every ``poll_interval_s`` the tasks Label Studio changed since the last
poll (the fallback for lost webhooks). A version (annotation id + ``updated_at``) is emitted
once: the state remembers it after the event is flushed, and its event id is derived from
it, so even a crash in between only repeats the same event id.

A task's image URL in Label Studio is signed and expires; the step also re-signs, in small
batches, the URLs that near their end (:mod:`retrain.annotation.image_urls`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from leakguard.health import Checks
from retrain.annotation.auto_label import AutoLabelPolicy, auto_annotation
from retrain.annotation.client import WEBHOOK_ACTIONS, LabelStudioClient
from retrain.annotation.exceptions import (
    AnnotationError,
    BridgeConfigurationError,
    LabelStudioAuthError,
    LabelStudioError,
    LabelStudioUnavailableError,
    UnusableAnnotationError,
)
from retrain.annotation.image_urls import ImageUrlSigner, refresh_image_urls
from retrain.annotation.ls_format import TASK_KEY, annotation_event, task_payload
from retrain.annotation.state import AnnotationVersion, BridgeState, CreatedTask
from schemas import Codec
from schemas.authenticity import AuthenticityError, EventKeyring
from schemas.consume import EventBatches
from schemas.dead_letter import MessageSource, send_dead_letter
from schemas.events import Annotation, AnnotationTask
from schemas.exceptions import ImageRejectedError
from schemas.images import ImageReader, png_size
from schemas.topics import Topics

__all__ = ["AnnotationBridge", "LabelStudioTarget", "check_modes"]

logger = logging.getLogger(__name__)

#: The dead-letter source of a webhook row: the receiver's inbox (offset: the row's id).
WEBHOOK_SOURCE: Final = "label-studio-webhook"
#: What a webhook body of the wrong shape raises in its handling (a string for an id, a list
#: for an object, a missing key); errors of Kafka or Label Studio are not among them.
_MALFORMED: Final = (ValueError, TypeError, KeyError, AttributeError)

#: Messages per consume call and the longest it waits: the webhook inbox is drained between.
CONSUME_BATCH_MESSAGES: Final = 50
POLL_TIMEOUT_S: Final = 0.5
#: Webhook bodies handled per step.
INBOX_BATCH: Final = 100
#: Polls re-read this much before the cursor: a change committed late is not missed.
POLL_OVERLAP_S: Final = 60.0
#: Longest a flush of produced events may take before the step fails (and retries).
FLUSH_TIMEOUT_S: Final = 30.0
_CURSOR_KEY: Final = "poll_cursor"
#: How often image URLs are checked for renewal: they are renewed days before they expire.
IMAGE_URL_CHECK_INTERVAL_S: Final = 3600.0
#: Image URLs renewed per step (two Label Studio calls each), so tasks and webhooks wait little.
IMAGE_URL_BATCH: Final = 20


@dataclass(frozen=True)
class LabelStudioTarget:
    """The Label Studio side: client, project, the URL that reaches this bridge, and the
    signer of the image URLs put in tasks (the receiver checks them with the same secret)."""

    client: LabelStudioClient
    project_id: int
    bridge_url: str
    tool_version: str
    image_urls: ImageUrlSigner


def check_modes(policy: AutoLabelPolicy, *, label_studio_configured: bool) -> None:
    """Fail at start-up when some checkpoint would have neither Label Studio nor auto-labels."""
    if not label_studio_configured and not policy.covers_all:
        raise BridgeConfigurationError(
            "no Label Studio configured: set LEAKGUARD_ANNOTATION__LABEL_STUDIO_URL and "
            'LEAKGUARD_ANNOTATION__API_TOKEN, or auto-label every checkpoint (["*"])'
        )


class AnnotationBridge:
    """Consumes ``AnnotationTask`` events with ``consumer`` (auto-commit off); see module.

    ``label_studio`` may be ``None`` only when ``policy`` auto-labels every checkpoint.
    ``clock`` (monotonic seconds) is injectable for the back-off and polling schedule.
    """

    def __init__(
        self,
        *,
        consumer: Any,
        producer: Any,
        topics: Topics,
        state: BridgeState,
        policy: AutoLabelPolicy,
        label_studio: LabelStudioTarget | None,
        images: ImageReader,
        poll_interval_s: float = 60.0,
        retry_initial_s: float = 1.0,
        retry_max_s: float = 60.0,
        worker_id: str = "annotation-bridge",
        codec: Codec | None = None,
        clock: Callable[[], float] = time.monotonic,
        keyring: EventKeyring | None = None,
    ) -> None:
        check_modes(policy, label_studio_configured=label_studio is not None)
        if poll_interval_s <= 0 or retry_initial_s <= 0 or retry_max_s < retry_initial_s:
            raise BridgeConfigurationError("poll and retry intervals must be positive")
        self._consumer = consumer
        self._producer = producer
        self._codec = codec if codec is not None else Codec()
        self._batches = EventBatches(
            consumer=consumer,
            producer=producer,
            routes=topics.routes(("AnnotationTask",)),
            dead_letter_topic=topics.dead_letters,
            worker_id=worker_id,
            codec=self._codec,
            batch_messages=CONSUME_BATCH_MESSAGES,
            poll_timeout_s=POLL_TIMEOUT_S,
        )
        self._topics = topics
        self._state = state
        self._policy = policy
        self._ls = label_studio
        self._images = images
        self._worker_id = worker_id
        self._poll_interval_s = poll_interval_s
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._clock = clock
        self._pending: deque[Any] = deque()
        self._retry_delay_s = 0.0
        self._retry_at = 0.0
        self._next_poll_at = 0.0
        self._next_url_check_at = 0.0
        self._annotators: dict[int, str] = {}
        self._keyring = keyring
        self._tag = None if keyring is None else keyring.tagger("annotator", None)

    # -- the loop ------------------------------------------------------------------------------

    def checks(self) -> Checks:
        """Health of the consuming loop (:meth:`schemas.consume.EventBatches.checks`)."""
        return self._batches.checks()

    def subscribe(self) -> None:
        """Join the consumer group on the task topic."""
        self._batches.subscribe()

    @property
    def waiting(self) -> int:
        """Tasks held back because Label Studio was unavailable."""
        return len(self._pending)

    def step(self) -> None:
        """Handle one batch of tasks (or retry the held one), then new annotations."""
        if self._pending:
            self._retry_pending()
        else:
            self._pending.extend(self._batches.poll())
            if self._pending:
                self._handle_pending()
        if self._ls is not None:
            try:
                self._drain_webhooks()
                if self._clock() >= self._next_poll_at:
                    # Scheduled first: a failed poll waits its turn, not hammering Label Studio.
                    self._next_poll_at = self._clock() + self._poll_interval_s
                    self._poll()
                if self._clock() >= self._next_url_check_at:
                    self._renew_image_urls(self._ls)
            except LabelStudioUnavailableError as exc:
                logger.warning("annotations wait for Label Studio: %s", exc)

    def run(self, stop: threading.Event) -> None:
        """Step until ``stop`` is set; the consumer is closed at the end."""
        self.subscribe()
        try:
            while not stop.is_set():
                self.step()
        finally:
            self._consumer.close()

    def _renew_image_urls(self, ls: LabelStudioTarget) -> None:
        # Scheduled first, as polls are; a full batch means more are due: go on next step.
        self._next_url_check_at = self._clock() + IMAGE_URL_CHECK_INTERVAL_S
        renewed = refresh_image_urls(
            state=self._state,
            client=ls.client,
            signer=ls.image_urls,
            bridge_url=ls.bridge_url,
            limit=IMAGE_URL_BATCH,
        )
        if renewed:
            logger.info("image URLs of %d Label Studio task(s) renewed", renewed)
        if renewed == IMAGE_URL_BATCH:
            self._next_url_check_at = self._clock()

    # -- tasks ---------------------------------------------------------------------------------

    def _retry_pending(self) -> None:
        if self._clock() < self._retry_at:
            # Paused: polling keeps the consumer in its group. A partition assigned by a
            # rebalance meanwhile is not paused: its messages join the held batch (the commit
            # after the batch covers them too) and it is paused as well.
            messages = self._batches.poll()
            self._pending.extend(messages)
            if messages:
                self._consumer.pause(self._consumer.assignment())
            return
        self._handle_pending()

    def _handle_pending(self) -> None:
        while self._pending:
            try:
                self._handle(self._pending[0])
            except LabelStudioUnavailableError as exc:
                self._hold(exc)
                return
            self._pending.popleft()
        self._flush()
        self._consumer.commit(asynchronous=False)
        if self._retry_delay_s:
            logger.info("Label Studio is back; held tasks created")
            self._consumer.resume(self._consumer.assignment())
            self._retry_delay_s = 0.0

    def _hold(self, error: LabelStudioUnavailableError) -> None:
        if not self._retry_delay_s:
            self._consumer.pause(self._consumer.assignment())
        self._retry_delay_s = min(
            max(self._retry_delay_s * 2, self._retry_initial_s), self._retry_max_s
        )
        self._retry_at = self._clock() + self._retry_delay_s
        logger.warning(
            "%d task(s) wait for Label Studio, retry in %.0f s: %s",
            len(self._pending),
            self._retry_delay_s,
            error,
        )

    def _handle(self, message: Any) -> None:
        task = self._batches.event(message)
        if not isinstance(task, AnnotationTask):
            return  # dead-lettered
        try:
            if self._keyring is not None:  # a forged task would be labelled and taught
                self._keyring.check(task, message.value() or b"", message.headers())
            image = self._images.link(task.image)
            if self._policy.applies(task.checkpoint):
                self._produce(auto_annotation(task))
            elif self._ls is not None:
                self._create_task(task, image, self._ls)
        except (LabelStudioAuthError, LabelStudioUnavailableError):
            raise  # not the task's fault: stop, or hold the batch and retry
        except (ImageRejectedError, LabelStudioError, AuthenticityError) as exc:
            self._batches.dead_letter(message, exc)  # this task cannot be annotated

    def _create_task(self, task: AnnotationTask, image: bytes, ls: LabelStudioTarget) -> None:
        task_id = str(task.task_id)
        known = self._state.task(task_id)
        if known is not None and known.ls_task_id is not None:
            return
        ls_task_id = None
        if known is not None:  # an earlier attempt was cut off: it may have created the task
            ls_task_id = ls.client.find_task(project_id=ls.project_id, key=TASK_KEY, value=task_id)
        else:
            self._state.record_task(
                CreatedTask(task_id, ls.project_id, None, task.image.uri, task.image.sha256)
            )
        url_expires_at = None
        if ls_task_id is None:
            width, height = png_size(image)
            image_url, url_expires_at = ls.image_urls.url(ls.bridge_url, task_id)
            payload = task_payload(task, image_url=image_url, width=width, height=height)
            ls_task_id = ls.client.import_task(project_id=ls.project_id, task=payload)
            logger.info("task %s -> Label Studio task %d", task_id, ls_task_id)
        self._state.record_task(
            CreatedTask(task_id, ls.project_id, ls_task_id, task.image.uri, task.image.sha256)
        )
        # A task found after a cut-off attempt keeps its URL's expiry unknown: renewed soon.
        if url_expires_at is not None:
            self._state.set_image_url_expiry(task_id, url_expires_at)

    # -- annotations ---------------------------------------------------------------------------

    def _drain_webhooks(self) -> None:
        for inbox_id, body in self._state.webhooks(limit=INBOX_BATCH):
            try:
                self._webhook(body)
            except _MALFORMED as exc:
                # Well-formed JSON whose fields are not what Label Studio sends: that row's
                # failure (dead letter, original body), never the bridge's.
                self._dead_letter_webhook(inbox_id, body, exc)
            self._state.drop_webhook(inbox_id)

    def _webhook(self, body: bytes) -> None:
        payload = json.loads(body)
        annotation, task = payload.get("annotation"), payload.get("task")
        if payload.get("action") in WEBHOOK_ACTIONS and annotation and task:
            self._emit(annotation, task.get("data") or {})

    def _dead_letter_webhook(self, inbox_id: int, body: bytes, error: Exception) -> None:
        send_dead_letter(
            lambda *, topic, key, value: self._producer.produce(topic, key=key, value=value),
            body,
            error,
            source=MessageSource(topic=WEBHOOK_SOURCE, partition=0, offset=inbox_id),
            dead_letter_topic=self._topics.dead_letters,
            worker_id=self._worker_id,
            codec=self._codec,
        )
        self._flush()

    def _poll(self) -> None:
        if self._ls is None:
            return
        cursor = self._state.get(_CURSOR_KEY)
        after = None
        if cursor is not None:
            after = (datetime.fromisoformat(cursor) - timedelta(seconds=POLL_OVERLAP_S)).isoformat()
        newest = cursor
        for task in self._ls.client.tasks_updated_after(
            project_id=self._ls.project_id, after=after
        ):
            for annotation in task.get("annotations") or []:
                self._emit(annotation, task.get("data") or {})
            changed = datetime.fromisoformat(str(task["updated_at"]).replace("Z", "+00:00"))
            if newest is None or changed > datetime.fromisoformat(newest):
                newest = changed.isoformat()
        if newest is not None:
            self._state.put(_CURSOR_KEY, newest)

    def _emit(self, annotation: Mapping[str, Any], task_data: Mapping[str, Any]) -> None:
        ls = self._ls
        if ls is None or int(annotation.get("project") or ls.project_id) != ls.project_id:
            return
        version = AnnotationVersion(
            project_id=ls.project_id,
            ls_annotation_id=int(annotation["id"]),
            updated_at=str(annotation.get("updated_at") or annotation.get("created_at")),
        )
        if self._state.seen(version):
            return
        if annotation.get("was_cancelled"):
            self._state.record_version(version, state="rejected", reason="skipped")
            return
        try:
            event = annotation_event(
                annotation,
                task_data,
                label_studio_url=ls.client.url,
                project_id=ls.project_id,
                annotator=self._annotator(annotation.get("completed_by"), ls.client),
                tool_version=ls.tool_version,
            )
        except UnusableAnnotationError as exc:
            logger.warning("Label Studio annotation %s not used: %s", version, exc)
            self._state.record_version(version, state="rejected", reason=str(exc))
            return
        self._produce(event)
        self._flush()
        self._state.record_version(version, state="emitted", annotation_id=str(event.annotation_id))
        logger.info("annotation %s of task %s emitted", event.annotation_id, event.task_id)

    def _annotator(self, completed_by: Any, client: LabelStudioClient) -> str:
        """The annotator's e-mail (Label Studio user id when hidden), looked up once."""
        if isinstance(completed_by, Mapping):
            completed_by = completed_by.get("id")
        if completed_by is None:
            return "label_studio:unknown"
        user_id = int(completed_by)
        if user_id not in self._annotators:
            email = client.user_email(user_id)
            self._annotators[user_id] = email or f"label_studio:user:{user_id}"
        return self._annotators[user_id]

    # -- producing -----------------------------------------------------------------------------

    def _produce(self, event: Annotation) -> None:
        value = self._codec.encode(event)
        self._producer.produce(
            self._topics.annotations,
            value=value,
            key=event.frame_id.encode(),
            headers=None if self._tag is None else self._tag(value),
        )

    def _flush(self) -> None:
        if self._producer.flush(FLUSH_TIMEOUT_S) != 0:
            raise AnnotationError("events could not be delivered to Kafka in time; retrying")
