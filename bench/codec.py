"""Benchmark of the event codec against the bare Avro libraries (issue #3).

Run: ``.venv/bin/python -m bench.codec [--repeats 9] [--seconds 0.2]``

For ``Detection`` (10 objects) and ``ScanFrame`` (400 KB inline image) it times, in one run
and on the same records: bare ``fastavro`` (schemaless writer/reader, parsed schema),
bare ``avro`` (DatumWriter/DatumReader), and the leakguard codec, both on plain records
(``encode_record``/``decode_record``: framing, fingerprint lookup, limits) and on typed
events (``encode``/``decode``: plus the dataclass conversion). Each cell is the median
events/s over ``--repeats`` timed batches, interleaved across the paths; "× fastavro" is
the time per event over bare fastavro's, the overhead the issue bounds at 15%.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import avro.io
import avro.schema
from fastavro import schemaless_reader, schemaless_writer
from rich.console import Console
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
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds / 4:
        operation()
        calls += 1
    return max(1, round(calls * 4))


def _time_batch(operation: Callable[[], object], batch: int) -> float:
    begin = time.perf_counter()
    for _ in range(batch):
        operation()
    return batch / (time.perf_counter() - begin)


def _median_rates(
    operations: dict[str, Callable[[], object]], *, repeats: int, seconds: float
) -> dict[str, float]:
    """Median events/s of each operation, batches interleaved round-robin so that load from
    other processes on a shared machine hits every operation alike."""
    batches = {name: _batch_size(op, seconds=seconds) for name, op in operations.items()}
    rates: dict[str, list[float]] = {name: [] for name in operations}
    for _ in range(repeats):
        for name, operation in operations.items():
            rates[name].append(_time_batch(operation, batches[name]))
    return {name: statistics.median(values) for name, values in rates.items()}


@dataclass(frozen=True)
class Row:
    event: str
    path: str
    encode_per_s: float
    decode_per_s: float


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


def run(*, repeats: int, seconds: float) -> list[Row]:
    codec = Codec()
    rows = []
    for label, event in (
        (f"Detection {DETECTED_OBJECTS} obj", example_detection(objects=DETECTED_OBJECTS)),
        (
            f"ScanFrame {IMAGE_BYTES // 1024} KB",
            example_scan_frame(image_bytes=IMAGE_BYTES),
        ),
    ):
        paths = _operations(codec, event)
        operations = {}
        for path, (encode, decode) in paths.items():
            operations[f"{path}/encode"] = encode
            operations[f"{path}/decode"] = decode
        rates = _median_rates(operations, repeats=repeats, seconds=seconds)
        rows.extend(
            Row(
                event=label,
                path=path,
                encode_per_s=rates[f"{path}/encode"],
                decode_per_s=rates[f"{path}/decode"],
            )
            for path in paths
        )
    return rows


def render(rows: list[Row], *, repeats: int) -> Table:
    table = Table(
        title=f"Event codec throughput (median of {repeats} interleaved batches, events/s)"
    )
    for column in ("event", "path", "enc/s", "× fast", "dec/s", "× fast"):
        left = column in ("event", "path")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    bare = {row.event: row for row in rows if row.path == "fastavro"}
    for row in rows:
        base = bare[row.event]
        # Time ratio: how much longer than bare fastavro one event takes (1.10 = +10 %).
        enc_ratio = base.encode_per_s / row.encode_per_s
        dec_ratio = base.decode_per_s / row.decode_per_s
        table.add_row(
            row.event,
            row.path,
            f"{row.encode_per_s:,.0f}",
            f"{enc_ratio:.2f}x",
            f"{row.decode_per_s:,.0f}",
            f"{dec_ratio:.2f}x",
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed batches per cell")
    parser.add_argument("--seconds", type=float, default=0.2, help="length of one batch")
    args = parser.parse_args()
    rows = run(repeats=args.repeats, seconds=args.seconds)
    Console().print(render(rows, repeats=args.repeats))


if __name__ == "__main__":
    main()
