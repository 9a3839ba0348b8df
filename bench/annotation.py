"""Benchmark of the annotation bridge against bare Label Studio imports.

Run: ``.venv/bin/python -m bench.annotation [--tasks 30] [--repeats 3] [--latency 10]``

It starts the embedded broker and a real Label Studio (``.venv-labelstudio``, about a
minute), writes ``--tasks`` frame images into a frame store, and times, interleaved
``--repeats`` times, each into a fresh project and fresh topics:

- ``bare import``: ``LabelStudioClient.import_task`` of the same task payloads, one call per
  task, the floor set by Label Studio itself;
- ``bridge``: the tasks produced to Kafka and a running :class:`AnnotationBridge` until every
  task exists in Label Studio (consume, decode, image read + SHA-256, state, import, commit),
  timed after one warm-up task so that a fresh consumer's group join is not counted;
- ``auto-label``: the same tasks through the bridge in auto-label mode until every
  ``Annotation`` event is read back (no Label Studio).

Then ``--latency`` annotations are submitted one by one through Label Studio's API and the
time from the submit call to the ``Annotation`` event read from Kafka is measured (webhook
path). Rates and latencies are medians; "x bare" is the bridge's rate over the bare rate.
"""

from __future__ import annotations

import argparse
import functools
import secrets
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from rich.console import Console
from rich.table import Table

from bench.streams_harness import png
from infra.broker import EmbeddedBroker
from infra.label_studio import LocalLabelStudio
from retrain.annotation.auto_label import AutoLabelPolicy
from retrain.annotation.bridge import AnnotationBridge, LabelStudioTarget
from retrain.annotation.client import LabelStudioClient
from retrain.annotation.image_urls import ImageUrlSigner
from retrain.annotation.ls_format import task_payload
from retrain.annotation.project import ensure_project, ensure_webhook
from retrain.annotation.receiver import ReceiverServer, receiver_app
from retrain.annotation.state import BridgeState
from schemas import Codec
from schemas.events import AnnotationTask, Box, PreAnnotation
from schemas.images import ImageReader, png_size
from schemas.topics import Topics
from streams.frame_store import FrameStore

CODEC = Codec()


def _tasks(root: Path, count: int) -> list[AnnotationTask]:
    store = FrameStore(str(root / "frames"))
    tasks = []
    for i in range(count):
        frame = f"bench-{i}"
        store.stage(png(512, i), checkpoint="cp", lane="1", frame_id=frame)
        link = store.keep(checkpoint="cp", lane="1", frame_id=frame)
        pre = PreAnnotation(
            class_name="others",
            subtype="fp:hdd",
            source="detector",
            source_id="m",
            box=Box(x1=10, y1=10, x2=90, y2=70),
        )
        task_id = uuid.uuid4()
        tasks.append(
            AnnotationTask(
                event_id=task_id,
                checkpoint="cp",
                lane="1",
                frame_id=frame,
                task_id=task_id,
                model_version="m",
                image=link,
                pre_annotations=(pre,),
                reason="fp",
            )
        )
    return tasks


def _topics(bootstrap: str) -> Topics:
    topics = Topics().prefixed(f"bench-{uuid.uuid4().hex[:8]}.")
    admin = AdminClient({"bootstrap.servers": bootstrap})  # must outlive its futures
    futures = admin.create_topics(
        [
            NewTopic(t, num_partitions=4)
            for t in (topics.annotation_tasks, topics.annotations, topics.dead_letters)
        ]
    )
    for future in futures.values():
        future.result(timeout=30)
    return topics


def _consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
        }
    )


def _wait(condition: Callable[[], bool], timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step did not finish")
        time.sleep(0.05)


class Rig:
    """The broker, Label Studio and a frame store shared by every run."""

    def __init__(self, bootstrap: str, ls: LocalLabelStudio, root: Path) -> None:
        self.bootstrap, self.ls, self.root = bootstrap, ls, root
        self.client = LabelStudioClient(url=ls.url, token=ls.token)
        self.images = ImageReader(roots=(str(root / "frames"),))

    def bare(self, tasks: list[AnnotationTask]) -> float:
        project = ensure_project(self.client, title=f"bare {uuid.uuid4().hex[:8]}").project_id
        start = time.perf_counter()
        for task in tasks[1:]:
            width, height = png_size(self.images.link(task.image))
            payload = task_payload(task, image_url="http://x/", width=width, height=height)
            self.client.import_task(project_id=project, task=payload)
        return (len(tasks) - 1) / (time.perf_counter() - start)

    def bridge(
        self, tasks: list[AnnotationTask], *, auto: bool, latency: int = 0
    ) -> tuple[float, list[float]]:
        topics = _topics(self.bootstrap)
        state = BridgeState(path=self.root / f"{uuid.uuid4().hex}.sqlite")
        secret = secrets.token_hex(32)
        receiver = ReceiverServer(
            receiver_app(state=state, webhook_secret=secret, images=self.images),
            host="127.0.0.1",
            port=0,
        )
        receiver.start()
        url = f"http://127.0.0.1:{receiver.port}"
        project = ensure_project(self.client, title=f"bridge {uuid.uuid4().hex[:8]}").project_id
        ensure_webhook(self.client, project_id=project, bridge_url=url, secret=secret)
        target = (
            None
            if auto
            else LabelStudioTarget(
                self.client, project, url, "label-studio", ImageUrlSigner(secret)
            )
        )
        bridge = AnnotationBridge(
            consumer=_consumer(self.bootstrap, f"{topics.annotation_tasks}-g"),
            producer=Producer({"bootstrap.servers": self.bootstrap}),
            topics=topics,
            state=state,
            label_studio=target,
            policy=AutoLabelPolicy.of(["*"] if auto else []),
            images=self.images,
        )
        reader = _consumer(self.bootstrap, f"{topics.annotation_tasks}-r")
        reader.subscribe([topics.annotations])
        read = [0]

        def drain(timeout_s: float = 0.05) -> None:
            messages = reader.consume(500, timeout_s)
            read[0] += sum(1 for m in messages if m.error() is None)

        def read_more_than(count: int) -> bool:
            """Read what arrived; whether more than ``count`` annotations are in."""
            drain()
            return read[0] > count

        producer = Producer({"bootstrap.servers": self.bootstrap})

        def send(batch: list[AnnotationTask]) -> None:
            for task in batch:
                producer.produce(
                    topics.annotation_tasks, value=CODEC.encode(task), key=task.frame_id.encode()
                )
            producer.flush(30)

        def done(count: int) -> Callable[[], bool]:
            if auto:
                return lambda: read_more_than(count - 1)
            return lambda: state.counts().tasks >= count

        stop = threading.Event()
        thread = threading.Thread(target=bridge.run, args=(stop,), daemon=True)
        thread.start()
        # One warm-up task first: the group join of a fresh consumer is not the bridge's rate.
        warm_up, timed = tasks[:1], tasks[1:]
        send(warm_up)
        _wait(done(1))
        start = time.perf_counter()
        send(timed)
        _wait(done(len(tasks)))
        rate = len(timed) / (time.perf_counter() - start)
        latencies = []
        for task in timed[:latency]:
            created = state.task(str(task.task_id))
            if created is None or created.ls_task_id is None:
                raise RuntimeError(f"task {task.task_id} was not created")
            result = self.ls.api("GET", f"/api/tasks/{created.ls_task_id}/")["predictions"][0][
                "result"
            ]
            before, sent = read[0], time.perf_counter()
            self.ls.api(
                "POST", f"/api/tasks/{created.ls_task_id}/annotations/", json={"result": result}
            )
            _wait(functools.partial(read_more_than, before))
            latencies.append(time.perf_counter() - sent)
        stop.set()
        thread.join(30)
        reader.close()
        receiver.stop()
        state.close()
        return rate, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency", type=int, default=10, help="annotations timed end to end")
    args = parser.parse_args()
    console = Console()
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmbeddedBroker(log_path=Path(tmp) / "broker.log") as broker,
    ):
        with console.status("starting Label Studio (about a minute)"):
            ls = LocalLabelStudio(root=Path(tmp) / "ls")
            ls.start()
        try:
            rig = Rig(broker.endpoint.bootstrap_servers, ls, Path(tmp))
            rates: dict[str, list[float]] = {"bare import": [], "bridge": [], "auto-label": []}
            latencies: list[float] = []
            for repeat in range(args.repeats):
                console.print(f"repeat {repeat + 1}/{args.repeats}")
                tasks = _tasks(Path(tmp) / f"r{repeat}", args.tasks + 1)  # + the warm-up
                rates["bare import"].append(rig.bare(tasks))
                rate, lat = rig.bridge(
                    tasks, auto=False, latency=args.latency if repeat == 0 else 0
                )
                rates["bridge"].append(rate)
                latencies.extend(lat)
                rates["auto-label"].append(rig.bridge(tasks, auto=True)[0])
        finally:
            ls.stop()
    bare = statistics.median(rates["bare import"])
    table = Table("path", "tasks/s (median)", "runs", "x bare", title=f"{args.tasks} tasks per run")
    for name, values in rates.items():
        median = statistics.median(values)
        ratio = "-" if name == "auto-label" else f"{median / bare:.2f}"
        table.add_row(name, f"{median:.1f}", ", ".join(f"{v:.1f}" for v in values), ratio)
    console.print(table)
    if latencies:
        console.print(
            f"submit -> Annotation event: median {statistics.median(latencies) * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms over {len(latencies)} annotations"
        )


if __name__ == "__main__":
    main()
