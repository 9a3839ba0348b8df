"""Benchmark: from a frame produced to its alarm shown in the guard's browser.

Run by hand: ``.venv/bin/python -m bench.console_latency [--frames 30] [--size 320]``.

Starts the embedded broker, the spec's topics under a fresh prefix, a real
``leakguard worker --role edge`` with a tiny RetinaNet biased so every frame alarms (one
torch thread), a real ``leakguard console serve`` and Debian's Chromium (Playwright) signed
in as a guard. Frames (simulated X-ray images, pre-rendered) are produced one at a time;
for each, the time until the alarm banner names that frame is measured (epoch clock read
in the page at the first animation frame after the banner changed), and the guard clears
it (``X``) before the next frame goes out, so every number is one frame's path, not
queueing. In the same run a bare confluent-kafka consumer records when each frame's
``Detection`` reaches a client: the baseline the console adds its feed, server-sent event,
queue read and drawing to. Reports p50/p95 of both and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import torch
from confluent_kafka import Consumer, Producer, TopicPartition
from playwright.sync_api import sync_playwright
from rich.console import Console
from rich.progress import track

from detector.artifacts import save_artifact
from detector.model import MODEL_NUM_CLASSES, build_retinanet, get_preset
from detector.sim.stream import ScannerStream
from infra.broker import EmbeddedBroker
from infra.settings import load_settings
from infra.stack import admin_client
from infra.topics import TopicsSpec, apply_topics, load_spec
from schemas import Codec, Detection, ScanFrame
from schemas.images import png_payload
from schemas.topics import Topics
from streams.console.accounts import default_guards_path, ensure_guard
from streams.console.feed import FETCH_WAIT_MAX_MS
from tests.streams.console.processes import ConsoleProcess

console = Console()
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "bench-password"
#: Distinct pre-rendered images the frames cycle through (rendering is not what is measured).
IMAGES = 6


#: Notes (epoch ms) the first animation frame after the banner names the frame: the moment
#: the alarm is painted, taken in the page, so Playwright's polling adds nothing to it.
_WATCH_BANNER = """(frameId) => {
  const banner = document.getElementById("alarm-banner");
  window.__alarmShown = new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error(`no alarm for ${frameId} within 300 s`)), 300000);
    const watch = new MutationObserver(() => {
      if (banner.dataset.frameId === frameId && !banner.hidden) {
        watch.disconnect();
        requestAnimationFrame(() => resolve(performance.timeOrigin + performance.now()));
      }
    });
    watch.observe(banner, { attributes: true });
  });
}"""


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[int(share * (len(ordered) - 1))]


def _model(path: Path) -> None:
    """A tiny random RetinaNet whose class bias makes every frame alarm (phones)."""
    torch.manual_seed(0)
    preset = dataclasses.replace(get_preset("tiny"), detections_per_img=3)
    model = build_retinanet(preset)
    model.head.classification_head.cls_logits.bias.data[3::MODEL_NUM_CLASSES] = 2.0
    save_artifact(path, model=model, preset=preset, version="bench-console")


def _detections_seen(
    bootstrap: str, topic: str, seen: dict[str, float], stop: threading.Event
) -> None:
    """The bare-library baseline: when each frame's detection reaches a Kafka client."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "bench-baseline",
         "fetch.wait.max.ms": FETCH_WAIT_MAX_MS}  # the console's own setting: a fair baseline
    )  # fmt: skip
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = [consumer.get_watermark_offsets(TopicPartition(topic, p))[1] for p in partitions]
    consumer.assign(
        [TopicPartition(topic, p, end) for p, end in zip(partitions, ends, strict=True)]
    )
    codec = Codec()
    while not stop.is_set():
        for message in consumer.consume(100, timeout=0.05):
            if message.error() is None:
                seen.setdefault(codec.decode(message.value(), Detection).frame_id, time.time())
    consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=30, help="Frames measured (after warm-up).")
    parser.add_argument("--size", type=int, default=320, help="Image side in pixels.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-console-"))
    _model(work / "model")
    stream = ScannerStream(
        checkpoint_id="hq", lane_id="1", seed=7, width_px=args.size, height_px=args.size
    )
    images = [stream.frame(i).image_png for i in track(range(IMAGES), description="rendering")]
    codec = Codec()
    data_dir = work / "data"
    ensure_guard(default_guards_path(data_dir), "bench", PASSWORD)
    with EmbeddedBroker(log_path=work / "broker.log") as broker:
        bootstrap = broker.endpoint.bootstrap_servers
        prefix = f"bc-{uuid.uuid4().hex[:8]}-"
        spec = load_spec()
        apply_topics(
            admin_client(load_settings(kafka={"bootstrap_servers": bootstrap}), bootstrap),
            TopicsSpec(
                {
                    prefix + n: t.model_copy(update={"name": prefix + n})
                    for n, t in spec.topics.items()
                }
            ),
        )
        names = Topics().prefixed(prefix)
        env = {"LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS": bootstrap, "LEAKGUARD_DATA_DIR": str(data_dir),
               "OMP_NUM_THREADS": "1"}  # fmt: skip
        worker = subprocess.Popen(
            [str(Path(sys.executable).with_name("leakguard")), "worker", "--role", "edge",
             "--topic-prefix", prefix, "--model", str(work / "model"),
             "--frame-store", str(work / "fs"), "--loglevel", "warning"],
            env={**os.environ, **env}, stdout=(work / "edge.log").open("wb"),
            stderr=subprocess.STDOUT, cwd=work,  # Faust keeps its data dir in the cwd
        )  # fmt: skip
        server = ConsoleProcess(
            "--checkpoint", "hq", "--lane", "1", "--port", "0", "--no-sink",
            "--topic-prefix", prefix, env=env,
        )  # fmt: skip
        seen: dict[str, float] = {}
        stop = threading.Event()
        baseline = threading.Thread(
            target=_detections_seen, args=(bootstrap, names.detections, seen, stop)
        )
        try:
            url = server.wait_ready(timeout_s=180)
            baseline.start()
            producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--headless"]
                )
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                page.goto(url + "/login")
                page.fill("input[name=guard]", "bench")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_selector("#guard-id")
                sent: dict[str, float] = {}
                shown: dict[str, float] = {}
                for index in track(range(args.frames + 1), description="frames"):
                    frame = ScanFrame(
                        checkpoint="hq", lane="1", frame_id=f"hq/1/{index:09d}",
                        scanner_id="bench", view_id="top",
                        image=png_payload(images[index % IMAGES]),
                    )  # fmt: skip
                    page.evaluate(_WATCH_BANNER, frame.frame_id)
                    sent[frame.frame_id] = time.time()
                    producer.produce(names.frames, key=b"hq/1", value=codec.encode(frame))
                    producer.flush(10)
                    shown[frame.frame_id] = page.evaluate("() => window.__alarmShown") / 1000
                    page.keyboard.press("x")
                    page.wait_for_selector("#alarm-banner", state="hidden", timeout=60_000)
                browser.close()
        finally:
            stop.set()
            if baseline.is_alive():
                baseline.join(10)
            server.stop()
            worker.kill()
            worker.wait()
    measured = [f for f in sent if not f.endswith(f"{0:09d}")]  # frame 0 warms everything up
    to_browser = [shown[f] - sent[f] for f in measured]
    to_client = [seen[f] - sent[f] for f in measured if f in seen]
    console.print(f"frames measured: {len(measured)} ({args.size} px, tiny model, 1 torch thread)")
    for name, values in (("detection at a bare Kafka client", to_client),
                         ("alarm shown in the browser", to_browser)):  # fmt: skip
        console.print(
            f"produced -> {name}: p50 {statistics.median(values) * 1000:.0f} ms, "
            f"p95 {_percentile(values, 0.95) * 1000:.0f} ms"
        )
    overhead = [shown[f] - seen[f] for f in measured if f in seen]
    p50_ms, p95_ms = statistics.median(overhead) * 1000, _percentile(overhead, 0.95) * 1000
    console.print(
        f"console's share (detection at client -> alarm shown): p50 {p50_ms:.0f} ms, "
        f"p95 {p95_ms:.0f} ms"
    )
    console.print(
        f"ratio of medians browser / bare client: "
        f"{statistics.median(to_browser) / statistics.median(to_client):.2f}"
    )


if __name__ == "__main__":
    main()
