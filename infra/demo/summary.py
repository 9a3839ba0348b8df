"""What the demo has done so far, counted from the events themselves.

The summary is built from the Kafka topics (``scanner.frames``, ``detections``,
``guard.verdicts``, ``outcomes``, ``alerts``, ``annotation.tasks``, ``annotations``,
``deadletter``, ``tip.results``), not from the analytics store:
the topics are the system of record, every event reaches them whether or not the sink keeps
up, and embedded chdb belongs to the sink's process. Delivery is at least once, so every
count is of distinct ids (frame id, outcome id, alert id, event id): a replayed event is
never counted twice.

:class:`DemoTally` is the pure part (events in, :class:`DemoSummary` out);
:func:`summary_table` draws a summary for the terminal.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Final, get_args

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from infra.commands.tables import FoldingTable
from schemas.events import (
    Alert,
    Annotation,
    AnnotationTask,
    DeadLetter,
    Detection,
    Event,
    GuardVerdict,
    Outcome,
    OutcomeKindName,
    ScanFrame,
    TipResult,
)

#: Outcome kinds in the order the summary shows them.
OUTCOME_KINDS: Final[tuple[OutcomeKindName, ...]] = get_args(OutcomeKindName)

LaneKey = tuple[str, str]
#: The row of TIP frames no guard answered in time.
UNREVIEWED_GUARD: Final = "(unreviewed)"


@dataclass
class LaneCounts:
    """Frames of one lane: published, answered by the detector, alarmed."""

    frames: int = 0
    detected: int = 0
    alarms: int = 0


@dataclass(frozen=True)
class LaneSummary:
    """One lane's row of the summary."""

    checkpoint: str
    lane: str
    frames: int
    detected: int
    alarms: int


@dataclass(frozen=True)
class TipSummary:
    """One simulated guard's threat image projection figures (#20): TIP frames answered,
    the share found, those the detector did not alarm on (``unaided``) and how many of them
    the guard found, and the median answer time (detection to verdict)."""

    guard: str
    frames: int
    hits: int
    hit_rate: float
    unaided: int
    unaided_hits: int
    response_p50_s: float | None


@dataclass(frozen=True)
class DemoSummary:
    """Everything the summary shows; ``to_dict`` is what ``summary.json`` holds.

    ``outcomes`` counts objects by kind (one frame can hold a TP and an FN); ``tasks`` are
    annotation tasks (frames the detector got wrong), ``annotations`` their labels;
    ``awaiting_review`` counts alarmed frames without any outcome yet; latencies are from a
    frame's publication to its detection (event times), ``None`` before the first detection.
    """

    lanes: tuple[LaneSummary, ...]
    outcomes: dict[str, int]
    alerts: int
    verdicts: int
    tasks: int
    annotations: int
    dead_letters: int
    awaiting_review: int
    latency_p50_s: float | None
    latency_p95_s: float | None
    tip: tuple[TipSummary, ...] = ()

    @property
    def frames(self) -> int:
        """Frames published on every lane."""
        return sum(lane.frames for lane in self.lanes)

    @property
    def detected(self) -> int:
        """Frames the detector answered."""
        return sum(lane.detected for lane in self.lanes)

    @property
    def alarms(self) -> int:
        """Frames the detector raised the alarm on."""
        return sum(lane.alarms for lane in self.lanes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form, totals included."""
        data = asdict(self)
        data.update(frames=self.frames, detected=self.detected, alarms=self.alarms)
        return data


@dataclass
class DemoTally:
    """Counts of distinct events, fed one decoded event at a time (either topic order)."""

    lanes: dict[LaneKey, LaneCounts] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    alerts: int = 0
    verdicts: int = 0
    tasks: int = 0
    annotations: int = 0
    dead_letters: int = 0
    latencies_s: list[float] = field(default_factory=list)
    tip_results: dict[str, list[TipResult]] = field(default_factory=dict)
    _frames: dict[str, datetime] = field(default_factory=dict)
    _detected: dict[str, datetime] = field(default_factory=dict)
    _alarmed: set[str] = field(default_factory=set)
    _with_outcome: set[str] = field(default_factory=set)
    _seen: set[object] = field(default_factory=set)

    def add(self, event: Event) -> None:
        """Count ``event``; events other than the summary's kinds are ignored."""
        if isinstance(event, ScanFrame):
            self._add_frame(event)
        elif isinstance(event, Detection):
            self._add_detection(event)
        elif isinstance(event, Outcome) and self._first(event.outcome_id):
            self.outcomes[event.kind] += 1
            self._with_outcome.add(event.frame_id)
        elif isinstance(event, Alert) and self._first(event.alert_id):
            self.alerts += 1
        elif isinstance(event, GuardVerdict) and self._first(event.event_id):
            self.verdicts += 1
        elif isinstance(event, AnnotationTask) and self._first(event.task_id):
            self.tasks += 1
        elif isinstance(event, Annotation) and self._first(event.annotation_id):
            self.annotations += 1
        elif isinstance(event, DeadLetter) and self._first(event.event_id):
            self.dead_letters += 1
        elif isinstance(event, TipResult) and self._first(event.projection_id):
            guard = event.guard_id or UNREVIEWED_GUARD
            self.tip_results.setdefault(guard, []).append(event)

    def _first(self, event_key: object) -> bool:
        """Whether ``event_key`` is new (and remember it)."""
        if event_key in self._seen:
            return False
        self._seen.add(event_key)
        return True

    def _lane(self, checkpoint: str, lane: str) -> LaneCounts:
        return self.lanes.setdefault((checkpoint, lane), LaneCounts())

    def _add_frame(self, frame: ScanFrame) -> None:
        if frame.frame_id in self._frames:
            return
        self._frames[frame.frame_id] = frame.event_time
        self._lane(frame.checkpoint, frame.lane).frames += 1
        detected_at = self._detected.get(frame.frame_id)
        if detected_at is not None:
            self._record_latency(frame.event_time, detected_at)

    def _add_detection(self, detection: Detection) -> None:
        # A restarted edge worker may detect a frame again: the first answer counts.
        if detection.frame_id in self._detected:
            return
        self._detected[detection.frame_id] = detection.event_time
        counts = self._lane(detection.checkpoint, detection.lane)
        counts.detected += 1
        if detection.alarmed:
            counts.alarms += 1
            self._alarmed.add(detection.frame_id)
        published_at = self._frames.get(detection.frame_id)
        if published_at is not None:
            self._record_latency(published_at, detection.event_time)

    def _record_latency(self, published_at: datetime, detected_at: datetime) -> None:
        self.latencies_s.append((detected_at - published_at).total_seconds())

    def summary(self) -> DemoSummary:
        """The counts as they stand."""
        p50, p95 = _percentiles(self.latencies_s)
        return DemoSummary(
            lanes=tuple(
                LaneSummary(checkpoint, lane, counts.frames, counts.detected, counts.alarms)
                for (checkpoint, lane), counts in sorted(self.lanes.items())
            ),
            outcomes={kind: self.outcomes[kind] for kind in OUTCOME_KINDS},
            alerts=self.alerts,
            verdicts=self.verdicts,
            tasks=self.tasks,
            annotations=self.annotations,
            dead_letters=self.dead_letters,
            awaiting_review=len(self._alarmed - self._with_outcome),
            latency_p50_s=p50,
            latency_p95_s=p95,
            tip=tuple(_tip(guard, results) for guard, results in sorted(self.tip_results.items())),
        )


def _tip(guard: str, results: list[TipResult]) -> TipSummary:
    hits = sum(result.result == "hit" for result in results)
    unaided = [result for result in results if not result.detector_alarmed]
    times = [r.response_ms / 1000 for r in results if r.response_ms is not None]
    return TipSummary(
        guard=guard,
        frames=len(results),
        hits=hits,
        hit_rate=hits / len(results),
        unaided=len(unaided),
        unaided_hits=sum(result.result == "hit" for result in unaided),
        response_p50_s=_percentiles(times)[0],
    )


def _percentiles(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    p50, p95 = np.percentile(values, [50, 95])
    return float(p50), float(p95)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def summary_table(summary: DemoSummary, *, title: str) -> Group:
    """The summary as the terminal shows it: a row per lane, then the loop's totals."""
    lanes = FoldingTable(title=title, title_justify="left")
    for column in ("checkpoint", "lane", "frames", "detected", "alarms"):
        lanes.add_column(column, justify="left" if column in ("checkpoint", "lane") else "right")
    for lane in summary.lanes:
        # Text, not markup: ids come from the events and may hold brackets.
        lanes.add_row(
            Text(lane.checkpoint),
            Text(lane.lane),
            str(lane.frames),
            str(lane.detected),
            str(lane.alarms),
        )
    lanes.add_row(
        "all", "", str(summary.frames), str(summary.detected), str(summary.alarms), style="bold"
    )
    outcomes = _row_table(
        {
            **{kind.upper(): summary.outcomes[kind] for kind in OUTCOME_KINDS},
            "awaiting review": summary.awaiting_review,
            "verdicts": summary.verdicts,
        }
    )
    downstream = _row_table(
        {
            "alerts": summary.alerts,
            "annotation tasks": summary.tasks,
            "annotations": summary.annotations,
            "dead letters": summary.dead_letters,
        }
    )
    latency = Text(
        f"detection latency (frame published -> detection): p50 "
        f"{_seconds(summary.latency_p50_s)}, p95 {_seconds(summary.latency_p95_s)}"
    )
    if not summary.tip:
        return Group(lanes, outcomes, downstream, latency)
    tip = FoldingTable(title="threat image projection (TIP)", title_justify="left")
    for column in ("guard", "TIP frames", "found", "hit rate", "unaided found", "answer p50"):
        tip.add_column(column, justify="left" if column == "guard" else "right")
    for row in summary.tip:
        tip.add_row(
            Text(row.guard),
            str(row.frames),
            str(row.hits),
            f"{row.hit_rate:.0%}",
            f"{row.unaided_hits} of {row.unaided}",
            _seconds(row.response_p50_s),
        )
    return Group(lanes, outcomes, downstream, latency, tip)


def _row_table(counts: dict[str, int]) -> Table:
    """One row of counts under their names (two such tables fit an 80-column terminal)."""
    table = FoldingTable()
    for name in counts:
        table.add_column(name, justify="right")
    table.add_row(*(str(count) for count in counts.values()))
    return table
