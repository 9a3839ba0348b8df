"""Benchmark of the event codec against the bare Avro libraries.

Run: ``.venv/bin/python -m bench.codec [--rounds 15] [--seconds 0.05]``

For ``Detection`` (10 objects) and ``ScanFrame`` (400 KB inline image) it times, in one run
and on the same records: bare ``fastavro`` (schemaless writer/reader, parsed schema),
bare ``avro`` (DatumWriter/DatumReader), and the leakguard codec, both on plain records
(``encode_record``/``decode_record``: framing, fingerprint lookup, limits) and on typed
events (``encode``/``decode``: plus the dataclass conversion, the path agents use).

Time is this thread's CPU time (``time.thread_time``), so the seconds spent waiting for a
core on a loaded machine are not counted; rates are events per CPU-second, which on an idle
machine is events per second. Each round times one batch of every operation, interleaved,
so what load remains (caches, memory bandwidth shared with other processes) hits all paths
alike. A cell is the median events/s over the rounds; "×
fastavro" is the median over rounds of the time per event divided by bare fastavro's *in the
same round* (a paired ratio, steadier than a ratio of medians on a loaded machine): the
codec's overhead, which the issue bounds at 15 %. The load average is printed with the table.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import avro.io
import avro.schema
from fastavro import schemaless_reader, schemaless_writer
from rich.console import Console
from rich.progress import track
from rich.table import Table

from schemas import Codec
from schemas.codec import HEADER_BYTES
from schemas.convert import to_record
from schemas.events import Event
from schemas.examples import example_detection, example_scan_frame

#: The issue's frame size: a 400 KB PNG, under the default inline limit.
IMAGE_BYTES = 400 * 1024
DETECTED_OBJECTS = 10


def _batch_size(operation: Callable[[], object], *, seconds: float) -> int:
    """How many calls of ``operation`` take about ``seconds`` (after a warm-up)."""
    calls, start = 0, time.thread_time()
    while time.thread_time() - start < seconds / 4:
        operation()
        calls += 1
    return max(1, round(calls * 4))


def _time_batch(operation: Callable[[], object], batch: int) -> float:
    """Seconds per call over one batch."""
    begin = time.thread_time()
    for _ in range(batch):
        operation()
    return (time.thread_time() - begin) / batch


def _measure(
    operations: dict[str, Callable[[], object]], *, base: str, rounds: int, seconds: float
) -> dict[str, tuple[float, float]]:
    """Per operation: median calls/s, and the median over rounds of its time per call over
    ``base``'s in the same round."""
    batches = {name: _batch_size(op, seconds=seconds) for name, op in operations.items()}
    times: dict[str, list[float]] = {name: [] for name in operations}
    for _ in track(range(rounds), description="rounds", transient=True):
        for name, operation in operations.items():
            times[name].append(_time_batch(operation, batches[name]))
    return {
        name: (
            1 / statistics.median(values),
            statistics.median(t / b for t, b in zip(values, times[base], strict=True)),
        )
        for name, values in times.items()
    }


@dataclass(frozen=True)
class Row:
    event: str
    path: str
    encode_per_s: float
    encode_ratio: float
    """Time per event over bare fastavro's (1.10 = 10 % slower)."""
    decode_per_s: float
    decode_ratio: float


def _operations(codec: Codec, event: Event) -> dict[str, tuple[Callable[[], object], ...]]:
    name = type(event).__name__
    stored = codec.store.current(name)
    record = to_record(event)
    data = codec.encode(event)
    body = data[HEADER_BYTES:]

    def fastavro_encode() -> bytes:
        buffer = io.BytesIO()
        schemaless_writer(buffer, stored.parsed, record)
        return buffer.getvalue()

    def fastavro_decode() -> Any:
        return schemaless_reader(io.BytesIO(body), stored.parsed, None)

    avro_schema = avro.schema.parse(json.dumps(stored.schema))
    writer, reader = avro.io.DatumWriter(avro_schema), avro.io.DatumReader(avro_schema)
    # avro-python wants the uuid as str; its own encoding of the same record.
    avro_record = {**record, "event_id": str(record["event_id"])}

    def avro_encode() -> bytes:
        buffer = io.BytesIO()
        writer.write(avro_record, avro.io.BinaryEncoder(buffer))
        return buffer.getvalue()

    avro_body = avro_encode()

    def avro_decode() -> Any:
        return reader.read(avro.io.BinaryDecoder(io.BytesIO(avro_body)))

    event_type = type(event)
    return {
        "avro": (avro_encode, avro_decode),
        "fastavro": (fastavro_encode, fastavro_decode),
        "codec records": (
            lambda: codec.encode_record(name, record),
            lambda: codec.decode_record(data, name),
        ),
        "codec typed": (
            lambda: codec.encode(event),
            lambda: codec.decode(data, event_type),
        ),
    }


def run(*, rounds: int, seconds: float) -> list[Row]:
    codec = Codec()
    rows = []
    for label, event in (
        (f"Detection {DETECTED_OBJECTS} obj", example_detection(objects=DETECTED_OBJECTS)),
        (f"ScanFrame {IMAGE_BYTES // 1024} KB", example_scan_frame(image_bytes=IMAGE_BYTES)),
    ):
        paths = _operations(codec, event)
        operations = {}
        for path, (encode, decode) in paths.items():
            operations[f"{path}/encode"] = encode
            operations[f"{path}/decode"] = decode
        encode_stats = _measure(
            {k: v for k, v in operations.items() if k.endswith("/encode")},
            base="fastavro/encode",
            rounds=rounds,
            seconds=seconds,
        )
        decode_stats = _measure(
            {k: v for k, v in operations.items() if k.endswith("/decode")},
            base="fastavro/decode",
            rounds=rounds,
            seconds=seconds,
        )
        for path in paths:
            encode_per_s, encode_ratio = encode_stats[f"{path}/encode"]
            decode_per_s, decode_ratio = decode_stats[f"{path}/decode"]
            rows.append(Row(label, path, encode_per_s, encode_ratio, decode_per_s, decode_ratio))
    return rows


def render(rows: list[Row], *, rounds: int, load: str) -> Table:
    table = Table(
        title=f"Event codec throughput (median of {rounds} interleaved rounds, events/s)",
        caption=f"load average (1, 5, 15 min): {load}",
    )
    for column in ("event", "path", "enc/s", "× fast", "dec/s", "× fast"):
        left = column in ("event", "path")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    for row in rows:
        table.add_row(
            row.event,
            row.path,
            f"{row.encode_per_s:,.0f}",
            f"{row.encode_ratio:.2f}x",
            f"{row.decode_per_s:,.0f}",
            f"{row.decode_ratio:.2f}x",
        )
    return table


def _load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (at least 7)")
    parser.add_argument("--seconds", type=float, default=0.05, help="length of one batch")
    args = parser.parse_args()
    if args.rounds < 7:
        parser.error("--rounds must be at least 7 for a meaningful median")
    load_before = _load()
    rows = run(rounds=args.rounds, seconds=args.seconds)
    load = f"{load_before} before, {_load()} after"
    Console().print(render(rows, rounds=args.rounds, load=load))


if __name__ == "__main__":
    main()
