"""The targeted hostile cases of the worker fuzz run, by input topic: claim checks and image
links to what no worker may read, images that lie about themselves, impossible numbers, forged
ids. Each case is a function of the event's index returning its name and its Avro record
(written as it is, see :func:`bench.fuzz_events.encode_raw`).

The files they name are set up by :func:`bench.fuzz_stack.make_targets`: the claim-check root
holds a good PNG, a FIFO, links to ``/dev/zero``, ``/etc/passwd`` and to the secret PNG
outside every root; a look-alike sibling folder holds a copy of the good PNG.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, TypeAlias

from bench.fuzz_events import HOSTILE_STRINGS, bomb_png
from schemas.convert import to_record
from schemas.events import Detection, ImagePayload, ScanFrame
from tests.streams.helpers import detection, obj, scan_frame, verdict

__all__ = ["BOMB_PX", "FRAME_PX", "HOSTILE_CHECKPOINT", "Case", "TargetedCases", "Targets"]

#: Checkpoint of the hostile templates (mutations may change it to a hostile string).
HOSTILE_CHECKPOINT: Final = "fuzz"
#: Side of the frames' PNG: small keeps inference cheap on a 2-core machine.
FRAME_PX: Final = 32
#: Pixels a bomb's header declares: far over the edge's 48 M pixel cap.
BOMB_PX: Final = 100_000

#: One targeted case: the event's index -> (case name, Avro record).
Case: TypeAlias = Callable[[int], tuple[str, dict[str, Any]]]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Targets:
    """Files on this machine hostile claim checks and image links name: the claim-check root
    (with a good PNG, a FIFO and links to ``/dev/zero``, ``/etc/passwd`` and a file outside),
    a look-alike sibling folder, the frame store, and a secret PNG outside every root whose
    bytes must never reach the frame store."""

    claims: Path
    sibling: Path
    frame_store: Path
    secret: Path

    @property
    def good(self) -> Path:
        return self.claims / "good.png"


class TargetedCases:
    """The cases of one run; ``duplicates`` is the pool of event ids already in use."""

    def __init__(
        self, targets: Targets, rng: random.Random, duplicates: list[str], image: bytes
    ) -> None:
        self.targets = targets
        self.rng = rng
        self.duplicates = duplicates
        self.image = image
        self.secret = targets.secret.read_bytes()

    def frame_template(self, index: int) -> ScanFrame:
        return replace(
            scan_frame(index, self.image, lane="1"),
            checkpoint=HOSTILE_CHECKPOINT,
            frame_id=f"fuzz/1/h{index:07d}",
        )

    def frame_cases(self) -> list[Case]:
        """Claim checks to what no edge may read, lying images, forged ids."""
        t = self.targets
        good, secret = t.good.read_bytes(), self.secret
        uris = {
            "claim /dev/zero": ("/dev/zero", good),
            "claim file:///dev/zero": ("file:///dev/zero", good),
            "claim link to /dev/zero": (str(t.claims / "zero"), good),
            "claim FIFO": (str(t.claims / "fifo"), good),
            "claim link to /etc/passwd": (str(t.claims / "passwd"), good),
            "claim file:///etc/passwd": ("file:///etc/passwd", good),
            "claim http://10.255.255.1": ("http://10.255.255.1/frame.png", good),
            "claim s3 elsewhere": ("s3://not-ours/frame.png", good),
            "claim .. out of root": (str(t.claims / ".." / t.secret.name), secret),
            "claim link out of root": (str(t.claims / "secret.png"), secret),
            "claim look-alike sibling": (str(t.sibling / "good.png"), good),
            "claim the root itself": (str(t.claims), good),
            "claim missing file": (str(t.claims / "missing.png"), good),
            "claim empty uri": ("", good),
            "claim 10 kB uri": ("x" * 10_240, good),
            "claim wrong sha256": (str(t.good), secret),
            "claim pixel bomb": (str(t.claims / "bomb.png"), bomb_png(BOMB_PX, BOMB_PX)),
        }
        cases: list[Case] = []
        for case, (uri, named) in uris.items():
            cases.append(self._claim_case(case, uri, named))
        for size in (-1, 0, 2**62):
            cases.append(self._claim_case(f"claim size_bytes {size}", str(t.good), good, size))
        inline = {
            "inline pixel bomb": bomb_png(BOMB_PX, BOMB_PX),
            "inline 1 x 60000 strip": bomb_png(1, 60_000),
            "inline not a PNG": b"GIF89a" + b"\x00" * 64,
            "inline empty": b"",
            "inline truncated PNG": self.image[: len(self.image) // 2],
        }
        for case, data in inline.items():
            cases.append(self._inline_case(case, data))
        for width, height in ((2**31 - 1, 2**31 - 1), (-1, -1), (0, 0)):
            cases.append(
                self._inline_case(f"declared {width} x {height}", self.image, (width, height))
            )
        cases.append(self._inline_case("inline size_bytes lies", self.image, size=10**12))
        for frame_id in ("../../../../escaped", "", "a\x00b", "x" * 10_240, ".", "/"):
            cases.append(self._id_case(f"frame id {frame_id[:12]!r}", frame_id=frame_id))
        cases.append(self._id_case("checkpoint ..", checkpoint="..", lane=".."))
        cases.append(self._id_case("duplicate event id", duplicate=True))
        cases.append(self._truth_case())
        return cases

    def _claim_case(self, case: str, uri: str, named: bytes, size: int | None = None) -> Case:
        def make(index: int) -> tuple[str, dict[str, Any]]:
            record = to_record(self.frame_template(index))
            record["image"] = to_record(
                ImagePayload(
                    encoding="png",
                    width=FRAME_PX,
                    height=FRAME_PX,
                    size_bytes=len(named) if size is None else size,
                    sha256=_sha(named),
                    uri=uri,
                )
            )
            return case, record

        return make

    def _inline_case(
        self, case: str, data: bytes, dims: tuple[int, int] | None = None, size: int | None = None
    ) -> Case:
        def make(index: int) -> tuple[str, dict[str, Any]]:
            record = to_record(self.frame_template(index))
            width, height = dims or (FRAME_PX, FRAME_PX)
            record["image"] = to_record(
                ImagePayload(
                    encoding="png",
                    width=width,
                    height=height,
                    size_bytes=len(data) if size is None else size,
                    sha256=_sha(data),
                    inline=data,
                )
            )
            return case, record

        return make

    def _id_case(
        self,
        case: str,
        *,
        frame_id: str | None = None,
        checkpoint: str | None = None,
        lane: str | None = None,
        duplicate: bool = False,
    ) -> Case:
        def make(index: int) -> tuple[str, dict[str, Any]]:
            record = to_record(self.frame_template(index))
            if frame_id is not None:
                record["frame_id"] = frame_id
            if checkpoint is not None:
                record["checkpoint"], record["lane"] = checkpoint, lane
            if duplicate and self.duplicates:
                record["event_id"] = self.rng.choice(self.duplicates)
            return case, record

        return make

    def _truth_case(self) -> Case:
        def make(index: int) -> tuple[str, dict[str, Any]]:
            record = to_record(self.frame_template(index))
            box = {"x1": math.nan, "y1": -math.inf, "x2": math.inf, "y2": 1e308}
            record["ground_truth"] = [
                {"class_name": "usb", "subtype": "x" * 10_240, "box": box}
            ] * 30
            record["ground_truth"] += [{"class_name": "usb", "subtype": None, "box": box}] * 300
            return "ground truth: 330 NaN/inf boxes", record

        return make

    def detection_template(self, index: int) -> Detection:
        plain = detection(obj("o0", (2, 2, 20, 20)), frame_id=f"fuzz/1/hd{index:07d}")
        return replace(plain, checkpoint=HOSTILE_CHECKPOINT)

    def detection_cases(self) -> list[Case]:
        """Links to files outside the store, impossible numbers, huge object lists."""
        store, secret = self.targets.frame_store, _sha(self.secret)
        links = {
            "link .. out of the store": f"{store}/../{self.targets.secret.name}",
            "link to the secret": str(self.targets.secret),
            "link file:///etc/passwd": "file:///etc/passwd",
            "link /dev/zero": "/dev/zero",
            "link FIFO": str(self.targets.claims / "fifo"),
            "link http://10.255.255.1": "http://10.255.255.1/frame.png",
            "link 10 kB": "x" * 10_240,
        }
        cases: list[Case] = []
        for case, uri in links.items():
            cases.append(self._detection_case(case, image={"uri": uri, "sha256": secret}))
        for value in (math.nan, math.inf, -math.inf, -1.0, 2.0):
            cases.append(self._detection_case(f"score {value}", score=value))
            cases.append(self._detection_case(f"box edge {value * 1e9}", box=value * 1e9))
        for width in (-1, 0, 2**31 - 1):
            cases.append(self._detection_case(f"image_width {width}", width=width))
        cases.append(self._detection_case("300 objects", objects=300))
        cases.append(self._detection_case("object id 10 kB", object_id="x" * 10_240))
        cases.append(self._detection_case("latency NaN", latency=math.nan))
        return cases

    def _detection_case(
        self,
        case: str,
        *,
        image: dict[str, str] | None = None,
        score: float | None = None,
        box: float | None = None,
        width: int | None = None,
        objects: int = 1,
        object_id: str = "o0",
        latency: float | None = None,
    ) -> Case:
        def make(index: int) -> tuple[str, dict[str, Any]]:
            record = to_record(self.detection_template(index))
            item = record["objects"][0]
            item = {**item, "object_id": object_id, "box": dict(item["box"])}
            if score is not None:
                item["score"] = score
            if box is not None:
                item["box"]["x2"] = box
            record["objects"] = [item] * objects
            if image is not None:
                record["image"] = image
            if width is not None:
                record["image_width"] = width
            if latency is not None:
                record["inference_latency_ms"] = latency
            return case, record

        return make

    def verdict_cases(self) -> list[Case]:
        def case(name: str, **fields: Any) -> Case:
            def make(index: int) -> tuple[str, dict[str, Any]]:
                record = to_record(verdict(self.detection_template(index)))
                record.update(fields)
                return name, record

            return make

        box = {"x1": math.nan, "y1": -math.inf, "x2": math.inf, "y2": -1e308}
        return [
            case("50 rejected 10 kB ids", rejected_object_ids=["x" * 10_240] * 50),
            case(
                "300 missed NaN boxes",
                missed_items=[{"class_name": "usb", "subtype": None, "box": box}] * 300,
            ),
            case(
                "corrects unknown objects",
                class_corrections=[{"object_id": s, "class_name": "usb"} for s in HOSTILE_STRINGS],
            ),
            case("response_ms -2^63", response_ms=-(2**63)),
            case(
                "cleared, rejects everything",
                decision="cleared",
                rejected_object_ids=list(HOSTILE_STRINGS),
            ),
            case("note 10 kB", note="x" * 10_240),
            case("forged detection id", detection_event_id="not-a-uuid"),
            case("event time year 10000", event_time=253_402_300_800_000),
        ]
