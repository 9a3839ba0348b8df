"""The edge app: scanner frames in, detections out.

One consumer group per site (``leakguard-edge-<site>``, or ``leakguard-edge`` without one)
scales by the partitions of its ``scanner.frames.<site>`` (or ``scanner.frames``); frames
are keyed ``checkpoint/lane``, so one lane's frames stay in order on one partition and one
worker. The agent is a thin loop: it takes up to ``batch_size``
frames (waiting at most ``batch_timeout_s``), hands the batch to
:meth:`~streams.detect.FrameDetector.run_batch` in a single worker thread so the event loop
never blocks, and produces one ``Detection`` per frame keyed by frame id (co-partitioned
with ``guard.verdicts`` for the cloud's join). Undecodable frames and frames whose image is
rejected go to the dead-letter topic; the agent goes on. With a :class:`RolloutConfig` the
edge model manager runs beside the agent and swaps
the detector's engine as ``model.updates`` say.

Batches are pipelined: while one batch is in the inference thread, the agent already takes
the next one and a second thread verifies, decodes and stages it, so the inference thread
never waits for Kafka or PNG decoding between batches (profiling showed it idle a third of
the time when the agent awaited each batch, and decoding took a tenth of its busy time).
Events are acked by hand, and only after their detection or dead letter was sent, batch
after batch in order, so a crash re-delivers every frame whose result was not out (at
least once).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

import faust
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from mode import CrashingSupervisor

from detector.engine import InferenceEngine
from detector.exceptions import ArtifactError
from leakguard.classes import alarm_thresholds
from leakguard.logs import about
from schemas.authenticity import AuthenticityError, EventKeyring, Tagger
from schemas.codec import Codec
from schemas.events import Detection, ScanFrame
from schemas.images import ImageReader
from streams.apps.common import (
    DeadLetters,
    build_faust_app,
    event_keyring,
    producer_tagger,
    raw_value,
)
from streams.config import WorkerConfig
from streams.detect import BatchResult, FrameDetector, PreparedBatch
from streams.exceptions import StreamsConfigError
from streams.faust_codec import AvroEventCodec, Undecodable
from streams.frame_store import FrameStore
from streams.metrics import WorkerMetrics
from streams.rollout.config import RolloutConfig
from streams.rollout.fetch import trusted_keys
from streams.rollout.kafka import RolloutLoop
from streams.tip import TipProjector

__all__ = ["EdgeApp", "build_edge_app", "load_detector"]

log = logging.getLogger(__name__)

#: Batches handled at once: one in the inference thread, one queued behind it, so the
#: thread starts the next batch the moment it is free; more only adds latency and memory.
PIPELINE_DEPTH: Final[int] = 2
#: Inference batches an edge polls and buffers ahead (see :func:`build_edge_app`).
PREFETCH_BATCHES: Final[int] = 16


def check_device(device: str) -> None:
    """Refuse a CUDA device this machine does not have, at start-up and by name."""
    import torch

    if device == "cpu":
        return
    index = int(device.partition(":")[2] or 0)
    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        raise StreamsConfigError(
            f"device {device} is not available here ({torch.cuda.device_count()} CUDA devices)"
        )


def load_detector(
    config: WorkerConfig, *, trusted: Mapping[str, Ed25519PublicKey] | None = None
) -> FrameDetector:
    """The detector of ``config``: its verified model artifact and its frame store.

    With ``trusted`` keys (an edge that takes rolled-out models) the start-up model must be
    signed by one of them too: an edge that refuses unsigned updates must not start on an
    unsigned model. Raises :class:`StreamsConfigError` when none of them verifies it.
    """
    if config.model_path is None:  # WorkerConfig refuses this for edge; keep mypy honest
        raise StreamsConfigError("an edge worker needs a model artifact (model_path)")
    check_device(config.device)
    thresholds = alarm_thresholds(config.alarm_threshold)
    keys: list[Ed25519PublicKey | None] = list(trusted.values()) if trusted else [None]
    refusals: list[str] = []
    for key in keys:
        try:
            engine = InferenceEngine.from_artifact(
                config.model_path, device=config.device, thresholds=thresholds, public_key=key
            )
            break
        except ArtifactError as exc:
            if key is None:
                raise
            refusals.append(str(exc))
    else:
        raise StreamsConfigError(
            f"the start-up model {config.model_path} is not signed by a trusted key: "
            + "; ".join(refusals)
        )
    return FrameDetector(
        engine=engine,
        tip=TipProjector(rates=config.tip_rates, seed=config.tip_seed)
        if config.tip_rates
        else None,
        store=FrameStore(config.frame_store_url),
        images=ImageReader(
            roots=config.claim_check_roots,
            max_bytes=config.max_image_bytes,
            max_pixels=config.max_pixels,
        ),
    )


@dataclass
class EdgeApp:
    """The Faust app with its collaborators, for the worker runner and tests."""

    app: faust.App
    config: WorkerConfig
    detector: FrameDetector
    metrics: WorkerMetrics
    executor: ThreadPoolExecutor
    prepare_executor: ThreadPoolExecutor
    detections: Any
    dead_letters: DeadLetters
    codec: Codec
    rollout: RolloutLoop | None = None
    tag: Tagger | None = None
    keyring: EventKeyring | None = None

    def _refusal(self, event: Any) -> Exception | None:
        """Why a frame is not detected at all: it does not decode, or (with a keyring) no
        scanner allowed to speak for its checkpoint tagged it."""
        if isinstance(event.value, Undecodable):
            return event.value.error
        if self.keyring is None:
            return None
        try:
            self.keyring.check(event.value, raw_value(event.message), event.message.headers)
        except AuthenticityError as exc:
            self.metrics.events_unauthenticated.inc()
            return exc
        return None

    def _infer(self, batch: PreparedBatch) -> list[BatchResult]:
        """Inference on one prepared batch, timed; runs in the inference thread."""
        with self.metrics.inference_latency.time():
            return self.detector.infer(batch)

    async def handle_batch(
        self,
        events: Sequence[Any],
        *,
        after: Awaitable[None] | None = None,
        ack: Callable[[Any], Awaitable[Any]] | None = None,
    ) -> None:
        """Detect one batch of Faust events and produce the results in frame order.

        ``after``: the previous batch's handling; this batch's results go out only once it
        is done, so detections leave in the order frames came. ``ack``: called for each
        event once its result is sent.
        """
        self.metrics.frames_in.inc(len(events))
        self.metrics.queue_depth.inc(len(events))
        refused = {id(event): error for event in events if (error := self._refusal(event))}
        frames = [event for event in events if id(event) not in refused]
        try:
            results: Sequence[BatchResult | Exception] = ()
            if frames:
                loop = asyncio.get_running_loop()
                prepared = await loop.run_in_executor(
                    self.prepare_executor, self.detector.prepare, [e.value for e in frames]
                )
                try:
                    results = await loop.run_in_executor(self.executor, self._infer, prepared)
                except Exception as exc:  # the engine failed: this batch's frames, not the agent
                    log.exception("inference failed on a batch of %d frames", len(frames))
                    results = [exc] * len(frames)
                for frame_id, error in prepared.unstaged:
                    self.metrics.frames_unstaged.inc()
                    # Cut: an id is input, and one 10 kB id must not make a 10 kB line.
                    log.error(
                        "frame %s detected without its image: %s",
                        frame_id[:200],
                        str(error)[:500],
                        extra=about(event_id=frame_id),
                    )
            if after is not None:
                await after
            for event in events:
                if (error := refused.get(id(event))) is not None:
                    self.dead_letters.send(event.message, raw_value(event.message), error)
            for event, result in zip(frames, results, strict=True):
                if isinstance(result, Detection):
                    value = self.codec.encode(result)
                    await self.detections.send(
                        key=event.value.frame_id.encode(),
                        value=value,
                        headers=None if self.tag is None else self.tag(value),
                    )
                    self.metrics.detections_out.inc()
                else:
                    self.dead_letters.send(event.message, raw_value(event.message), result)
            if ack is not None:
                for event in events:
                    await ack(event)
        finally:
            self.metrics.queue_depth.dec(len(events))


def _start_thread(loop: RolloutLoop) -> Callable[[], Awaitable[None]]:
    """A Faust start-up task that starts the model manager's thread with the worker."""

    async def start_model_manager() -> None:
        loop.start()

    return start_model_manager


def build_edge_app(
    config: WorkerConfig,
    *,
    detector: FrameDetector | None = None,
    metrics: WorkerMetrics | None = None,
    codec: Codec | None = None,
    rollout: RolloutConfig | None = None,
) -> EdgeApp:
    """The edge Faust app; ``detector`` is loaded from ``config.model_path`` when absent;
    ``rollout`` starts the model manager with the worker."""
    codec = codec if codec is not None else Codec()
    metrics = metrics if metrics is not None else WorkerMetrics()
    # PREFETCH_BATCHES batches of frames per poll and in the buffer: at a few frames/s a
    # poll's records are handled well within the max poll interval (see MAX_POLL_RECORDS)
    # and the buffer holds tens of seconds of frames, not 4,096 inline images.
    prefetch = PREFETCH_BATCHES * config.batch_size
    app = build_faust_app(config, broker_max_poll_records=prefetch, stream_buffer_maxsize=prefetch)
    frames = app.topic(
        config.topics.frames,
        key_serializer="raw",
        value_serializer=AvroEventCodec(event_type=ScanFrame, codec=codec),
    )
    # Encoded here rather than by the topic: the producer tag covers the exact bytes sent.
    detections = app.topic(config.topics.detections, key_serializer="raw", value_serializer="raw")
    keyring = event_keyring(config)
    edge = EdgeApp(
        app=app,
        config=config,
        detector=detector
        if detector is not None
        else load_detector(
            config,
            trusted=None if rollout is None else trusted_keys(rollout.trusted_key_paths),
        ),
        metrics=metrics,
        executor=ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference"),
        # One thread decodes and stages the next batch while the current one infers.
        prepare_executor=ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare"),
        detections=detections,
        dead_letters=DeadLetters(app, config, metrics, codec),
        codec=codec,
        tag=producer_tagger(keyring, config, "edge"),
        keyring=keyring,
    )

    # A crash that escapes the agent (say, the dead-letter producer failing) ends the worker
    # for its supervisor to restart, instead of leaving a live process that detects nothing.
    @app.agent(frames, name="detect", supervisor_strategy=CrashingSupervisor)
    async def detect(stream: Any) -> None:
        in_flight: deque[asyncio.Future[None]] = deque()
        try:
            async for events in stream.noack_take(config.batch_size, config.batch_timeout_s):
                previous = in_flight[-1] if in_flight else None
                step = edge.handle_batch(events, after=previous, ack=stream.ack)
                in_flight.append(asyncio.ensure_future(step))
                while in_flight and (in_flight[0].done() or len(in_flight) > PIPELINE_DEPTH):
                    await in_flight.popleft()  # raises what a batch raised
        finally:
            for pending in in_flight:
                pending.cancel()

    if rollout is not None:
        edge.rollout = RolloutLoop(
            detector=edge.detector,
            config=rollout,
            bootstrap_servers=config.bootstrap_servers,
            client_config=config.client_config,
            worker_id=config.worker_id,
            codec=codec,
            thresholds=alarm_thresholds(config.alarm_threshold),
            device=config.device,
            tag=edge.tag,
            keyring=edge.keyring,
        )
        app.task(_start_thread(edge.rollout))
    return edge
