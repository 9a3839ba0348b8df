"""Every dashboard panel, declared once: title, SQL, visualisation, unit, expected columns.

This list is the single source of the dashboards: ``sinks.dashboards.grafana`` turns it into
Grafana JSON for the official ClickHouse data source, and the tests run each query on both
engines against seeded data. Queries read ``FINAL`` (or aggregate over deduplicated rows) so
redelivered events never count twice, and use only functions ClickHouse 18.16 has
(``intDiv``, ``quantile``, ``argMax``; no ``toStartOfInterval``, no window functions).
Time filtering uses the data source's macro ``$__timeFilter(column)``; time series bucket
their rows by ``$__interval_s``, the interval Grafana derives from the window (seconds for a
fresh run, hours for a month), so every window reads as a curve; see
:func:`sinks.dashboards.macros.expand_macros`. Every panel filters by the ``$checkpoint``
and ``$lane`` variables (:mod:`sinks.dashboards.variables`), except where its rows carry
no place, which its ``unfiltered`` says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from sinks.dashboards.variables import CHECKPOINT, LANE, all_of, by_place

__all__ = [
    "ANNOTATIONS",
    "DATA_START_SQL",
    "PANELS",
    "AnnotationQuery",
    "ColumnKind",
    "Panel",
    "Visualisation",
]

Visualisation: TypeAlias = Literal["timeseries", "barchart", "stat", "table"]
ColumnKind: TypeAlias = Literal["time", "number", "string"]


@dataclass(frozen=True, kw_only=True)
class Panel:
    """One dashboard panel: what it shows and the query behind it.

    ``columns`` names the result columns and their kind; the tests check every engine
    returns exactly these, so a panel never silently breaks on a schema change. ``empty``
    says what will appear when the window holds nothing yet, so an empty panel on a fresh
    installation reads as "not yet", not as "broken". ``counts``: the values count events
    per time bucket, so a bucket without a row is a zero, not a gap. ``unfiltered``: why
    the panel ignores ``$checkpoint`` and ``$lane`` (its rows carry no place); ``None`` for
    every panel that filters by both.
    """

    title: str
    description: str
    empty: str
    sql: str
    visualisation: Visualisation
    columns: tuple[tuple[str, ColumnKind], ...]
    unit: str = "short"
    width: int = 12
    counts: bool = False
    unfiltered: str | None = None


@dataclass(frozen=True, kw_only=True)
class AnnotationQuery:
    """Events drawn as vertical markers on every time-series panel (e.g. model rollouts)."""

    name: str
    sql: str
    colour: str
    columns: tuple[tuple[str, ColumnKind], ...]


#: A time series' bucket: ``$__interval_s`` seconds, aligned on the epoch like Grafana's.
_BUCKET: Final = "toDateTime(intDiv(toUInt32({column}), $__interval_s) * $__interval_s)"

#: Rows of the selected checkpoints and lanes.
_PLACE: Final = by_place()

#: A model status without a lane is its whole checkpoint's, so it belongs to every lane.
_STATUS_PLACE: Final = (
    f"{all_of(CHECKPOINT.name, 'checkpoint')} AND (isNull(lane) OR "
    f"{all_of(LANE.name, 'assumeNotNull(lane)')})"
)

#: An update for the selected places: one with no targets is for the whole fleet; a target
#: is ``checkpoint`` (all its lanes) or ``checkpoint/lane``.
_TARGET_CHECKPOINT: Final = "splitByChar('/', target)[1]"
_TARGET_LANE: Final = "splitByChar('/', target)[2]"
_UPDATE_PLACE: Final = (
    "(empty(targets) OR arrayExists(target -> "
    f"{all_of(CHECKPOINT.name, _TARGET_CHECKPOINT)} AND "
    f"(position(target, '/') = 0 OR {all_of(LANE.name, _TARGET_LANE)}), targets))"
)

#: The managers' view of rollouts: per model version announced in the window for the
#: selected places (agreement and reviews measured there only), its latest
#: rollout step with who or what took it and why, the gate's base-set mAP, the agreement
#: the edges measured while it ran beside the active model, whether an edge rolled it back,
#: and how the guards judged the alarms it raised (its canary and active rates). One JOIN
#: per SELECT, USING and named subqueries: what ClickHouse 18.16 and today's both take.
#: The joined figures are Nullable, so a version nothing was measured for reads NULL (the
#: default a non-matching row gets), not 0.
_ROLLOUTS_SQL: Final = f"""SELECT model_version, rollout_mode, decided_by, reason, since,
    gate_base_map50, edge_agreement, rolled_back, reviewed_alarms, false_alarm_share
FROM
(
    SELECT model_version, rollout_mode, decided_by, reason, since, gate_base_map50,
        edge_agreement, rolled_back
    FROM
    (
        SELECT model_version,
            argMax(rollout_mode, event_time_ms) AS rollout_mode,
            argMax(decided_by, event_time_ms) AS decided_by,
            argMax(reason, event_time_ms) AS reason,
            max(event_time) AS since,
            argMax(if(has(metric_names, 'gate/candidate_base_map50'),
                metric_values[indexOf(metric_names, 'gate/candidate_base_map50')], NULL),
                event_time_ms) AS gate_base_map50
        FROM model_updates FINAL
        WHERE $__timeFilter(event_time) AND {_UPDATE_PLACE}
        GROUP BY model_version
    ) AS updates
    ANY LEFT JOIN
    (
        SELECT model_version,
            countIf(state IN ('shadow', 'canary') AND isNotNull(agreement_rate)) AS measured,
            if(measured = 0, NULL, sumIf(assumeNotNull(agreement_rate),
                state IN ('shadow', 'canary') AND isNotNull(agreement_rate)) / measured)
                AS edge_agreement,
            toNullable(max(rolled_back)) AS rolled_back
        FROM model_status FINAL
        WHERE {_STATUS_PLACE}
        GROUP BY model_version
    ) AS statuses USING model_version
) AS rollouts
ANY LEFT JOIN
(
    SELECT model_version,
        toNullable(countIf(kind IN ('tp', 'fp'))) AS reviewed_alarms,
        if(reviewed_alarms = 0, NULL, countIf(kind = 'fp') / reviewed_alarms)
            AS false_alarm_share
    FROM outcomes FINAL
    WHERE {_PLACE}
    GROUP BY model_version
) AS reviews USING model_version
ORDER BY since DESC, model_version"""

#: Guard shifts for the threat image projection panels (#20): 8 hours, starting at 06:00,
#: 14:00 and 22:00 UTC, the common three-shift pattern of a staffed checkpoint.
SHIFT_S: Final = 8 * 3600
SHIFT_OFFSET_S: Final = 6 * 3600
#: A TIP result's seconds since the first shift boundary; its shift's start and its hour of
#: the shift (0 = first). Integer arithmetic: ClickHouse 18.16 has no toStartOfInterval.
_SHIFT_SECONDS: Final = f"(toUInt32(event_time) - {SHIFT_OFFSET_S})"
_SHIFT_START: Final = (
    f"toDateTime(intDiv({_SHIFT_SECONDS}, {SHIFT_S}) * {SHIFT_S} + {SHIFT_OFFSET_S})"
)
_SHIFT_HOUR: Final = f"intDiv({_SHIFT_SECONDS} % {SHIFT_S}, 3600)"
#: Per guard: TIP frames answered, the share found, the share found of those the detector
#: did not alarm on (the guard's own eye; NULL when there were none), the median answer time.
_TIP_MEASURES: Final = """assumeNotNull(guard_id) AS guard, count() AS tip_frames,
    countIf(result = 'hit') / count() AS hit_rate,
    if(countIf(detector_alarmed = 0) = 0, NULL,
        countIf(result = 'hit' AND detector_alarmed = 0) / countIf(detector_alarmed = 0))
        AS unaided_hit_rate,
    quantile(0.5)(assumeNotNull(response_ms)) / 1000 AS response_p50_s"""
#: The columns :data:`_TIP_MEASURES` gives, after each TIP panel's own grouping column.
_TIP_COLUMNS: Final = (
    ("guard", "string"),
    ("tip_frames", "number"),
    ("hit_rate", "number"),
    ("unaided_hit_rate", "number"),
    ("response_p50_s", "number"),
)

PANELS: Final[tuple[Panel, ...]] = (
    Panel(
        title="Checkpoint throughput",
        description="Frames the detector processed per time bucket and checkpoint.",
        empty="Frames per checkpoint appear here as soon as the detector has processed one.",
        sql=f"""SELECT {_BUCKET.format(column="event_time")} AS time, checkpoint,
    count() AS frames
FROM detection_frames FINAL
WHERE $__timeFilter(event_time) AND {_PLACE}
GROUP BY time, checkpoint
ORDER BY time, checkpoint""",
        visualisation="timeseries",
        columns=(("time", "time"), ("checkpoint", "string"), ("frames", "number")),
        counts=True,
    ),
    Panel(
        title="Alarm rate",
        description="Share of frames where the detector raised the alarm, per time bucket.",
        empty="The share of alarmed frames appears once the detector has processed frames.",
        sql=f"""SELECT {_BUCKET.format(column="event_time")} AS time, avg(alarmed) AS alarm_rate
FROM detection_frames FINAL
WHERE $__timeFilter(event_time) AND {_PLACE}
GROUP BY time
ORDER BY time""",
        visualisation="timeseries",
        columns=(("time", "time"), ("alarm_rate", "number")),
        unit="percentunit",
    ),
    Panel(
        title="TP / FP / FN per class",
        description="Objects per time bucket by class and outcome (guard-reviewed frames only).",
        empty="True alarms, false alarms and missed items per class appear here once guards "
        "have answered alarms.",
        sql=f"""SELECT {_BUCKET.format(column="event_time")} AS time,
    concat(class_name, ' ', kind) AS series, count() AS objects
FROM outcomes FINAL
WHERE $__timeFilter(event_time) AND kind IN ('tp', 'fp', 'fn') AND {_PLACE}
GROUP BY time, series
ORDER BY time, series""",
        visualisation="timeseries",
        columns=(("time", "time"), ("series", "string"), ("objects", "number")),
        counts=True,
        width=24,
    ),
    Panel(
        title="False-alarm rate per lane",
        description="Share of reviewed detections the guards rejected, per checkpoint lane.",
        empty="Each lane's share of rejected alarms appears once its guards have confirmed or "
        "cleared alarms.",
        sql=f"""SELECT concat(checkpoint, '/', lane) AS checkpoint_lane,
    countIf(kind = 'fp') / count() AS false_alarm_rate
FROM outcomes FINAL
WHERE $__timeFilter(event_time) AND kind IN ('tp', 'fp') AND {_PLACE}
GROUP BY checkpoint_lane
ORDER BY checkpoint_lane""",
        visualisation="barchart",
        columns=(("checkpoint_lane", "string"), ("false_alarm_rate", "number")),
        unit="percentunit",
    ),
    Panel(
        title="Guard review time",
        description="Seconds from detection to the guard's verdict, per frame: p50 and p95.",
        empty="Review times appear here once a guard has answered an alarm.",
        sql=f"""SELECT {_BUCKET.format(column="detected")} AS time,
    quantile(0.5)(review_ms) / 1000 AS p50_s, quantile(0.95)(review_ms) / 1000 AS p95_s
FROM (
    SELECT detection_event_id, min(event_time) AS detected,
        max(assumeNotNull(review_time_ms)) AS review_ms
    FROM outcomes FINAL
    WHERE $__timeFilter(event_time) AND isNotNull(review_time_ms) AND {_PLACE}
    GROUP BY detection_event_id
)
GROUP BY time
ORDER BY time""",
        visualisation="timeseries",
        columns=(("time", "time"), ("p50_s", "number"), ("p95_s", "number")),
        unit="s",
    ),
    Panel(
        title="Guard response time",
        description="Seconds from an alarm shown on a guard's console to that guard's verdict, "
        "per guard and time bucket: median (p50) and p90.",
        empty="Each guard's response times appear here once a guard has answered an alarm "
        "in the console (simulated guards measure none).",
        sql=f"""SELECT {_BUCKET.format(column="event_time")} AS time, guard_id,
    quantile(0.5)(assumeNotNull(response_ms)) / 1000 AS p50_s,
    quantile(0.9)(assumeNotNull(response_ms)) / 1000 AS p90_s
FROM verdicts FINAL
WHERE $__timeFilter(event_time) AND isNotNull(response_ms) AND {_PLACE}
GROUP BY time, guard_id
ORDER BY time, guard_id""",
        visualisation="timeseries",
        columns=(
            ("time", "time"),
            ("guard_id", "string"),
            ("p50_s", "number"),
            ("p90_s", "number"),
        ),
        unit="s",
        width=24,
    ),
    Panel(
        title="TIP hit rate per guard and shift",
        description="Threat image projection: simulated media projected into real scans to "
        "test the guards. Per guard and shift (8 h from 06:00, 14:00, 22:00 UTC): TIP frames "
        "answered, the share where the guard found the medium, that share among the "
        "projections the detector did not alarm on (unaided), and the median answer time. "
        "TIP frames left unreviewed have no guard and are not counted here.",
        empty="TIP results appear here once an edge projects test media (worker --tip-rate) "
        "and guards answer them.",
        sql=f"""SELECT {_SHIFT_START} AS shift_start, {_TIP_MEASURES}
FROM tip_results FINAL
WHERE $__timeFilter(event_time) AND isNotNull(guard_id) AND isNotNull(response_ms) AND {_PLACE}
GROUP BY shift_start, guard
ORDER BY shift_start, guard""",
        visualisation="table",
        columns=(("shift_start", "time"), *_TIP_COLUMNS),
    ),
    Panel(
        title="TIP over the shift",
        description="How each guard's TIP hit rate and answer time change from the first to "
        "the last hour of a shift (hour 0 = the shift's first), over every shift in the "
        "window: the fatigue the system was built against.",
        empty="Hour by hour TIP figures appear here once guards have answered TIP frames.",
        sql=f"""SELECT {_SHIFT_HOUR} AS shift_hour, {_TIP_MEASURES}
FROM tip_results FINAL
WHERE $__timeFilter(event_time) AND isNotNull(guard_id) AND isNotNull(response_ms) AND {_PLACE}
GROUP BY shift_hour, guard
ORDER BY guard, shift_hour""",
        visualisation="table",
        columns=(("shift_hour", "number"), *_TIP_COLUMNS),
    ),
    Panel(
        title="Unreviewed alarms",
        description="Alarmed frames no guard has given a verdict on.",
        empty="Alarmed frames still waiting for a guard are counted here.",
        sql=f"""SELECT count() AS unreviewed_frames
FROM detection_frames FINAL
WHERE $__timeFilter(event_time) AND alarmed = 1 AND {_PLACE}
    AND event_id NOT IN (SELECT detection_event_id FROM verdicts FINAL)""",
        visualisation="stat",
        columns=(("unreviewed_frames", "number"),),
        width=6,
    ),
    Panel(
        title="Detector latency",
        description="Model inference time per frame, p50 and p95, per time bucket.",
        empty="Inference times appear here once the detector has processed frames.",
        sql=f"""SELECT {_BUCKET.format(column="event_time")} AS time,
    quantile(0.5)(inference_latency_ms) AS p50_ms, quantile(0.95)(inference_latency_ms) AS p95_ms
FROM detection_frames FINAL
WHERE $__timeFilter(event_time) AND {_PLACE}
GROUP BY time
ORDER BY time""",
        visualisation="timeseries",
        columns=(("time", "time"), ("p50_ms", "number"), ("p95_ms", "number")),
        unit="ms",
        width=18,
    ),
    Panel(
        title="Dead letters",
        description="Messages a worker could not decode or process, per time bucket and "
        "source topic, for the whole fleet: such a message has no known checkpoint or lane.",
        empty="None in this window (good): a message a worker cannot decode or process would "
        "be counted here, per source topic.",
        sql=f"""SELECT {_BUCKET.format(column="event_time")} AS time, source_topic,
    count() AS dead_letters
FROM dead_letters FINAL
WHERE $__timeFilter(event_time)
GROUP BY time, source_topic
ORDER BY time, source_topic""",
        visualisation="timeseries",
        columns=(("time", "time"), ("source_topic", "string"), ("dead_letters", "number")),
        counts=True,
        unfiltered="a dead letter is a message no worker could read, so its checkpoint and "
        "lane are unknown: the panel counts the whole fleet's",
    ),
    Panel(
        title="Model rollouts",
        description="Each model announced in this window: its latest rollout step, who or "
        "what took it (gate, operator, an edge's rollback) and why, the gate's base-set "
        "mAP@0.5, the agreement the edges measured in shadow and canary, whether an edge rolled "
        "it back, and the share of its reviewed alarms the guards rejected.",
        empty="Rollouts appear here when the registry announces a model (a retrain cycle "
        "whose candidate passed the gate, or an operator's promotion).",
        sql=_ROLLOUTS_SQL,
        visualisation="table",
        columns=(
            ("model_version", "string"),
            ("rollout_mode", "string"),
            ("decided_by", "string"),
            ("reason", "string"),
            ("since", "time"),
            ("gate_base_map50", "number"),
            ("edge_agreement", "number"),
            ("rolled_back", "number"),
            ("reviewed_alarms", "number"),
            ("false_alarm_share", "number"),
        ),
    ),
    Panel(
        title="Model versions live per checkpoint",
        description="Each model's latest reported state per checkpoint (shadow, canary, active).",
        empty="Each checkpoint's models appear here once its edge worker reports a model state "
        "(shadow, canary or active).",
        sql=f"""SELECT checkpoint, model_version, argMax(state, event_time_ms) AS latest_state,
    max(event_time) AS since
FROM model_status FINAL
WHERE {_STATUS_PLACE}
GROUP BY checkpoint, model_version
HAVING latest_state IN ('shadow', 'canary', 'active')
ORDER BY checkpoint, model_version""",
        visualisation="table",
        columns=(
            ("checkpoint", "string"),
            ("model_version", "string"),
            ("latest_state", "string"),
            ("since", "time"),
        ),
    ),
)

#: The window's frame count and first frame: a window longer than the data is narrowed to
#: it (console overview), so a fresh installation's first minutes read as curves.
DATA_START_SQL: Final = """SELECT count() AS frames, min(event_time) AS first_frame
FROM detection_frames
WHERE $__timeFilter(event_time)"""

#: Model rollouts drawn on every time series, so a change in a curve lines up with its cause.
ANNOTATIONS: Final[tuple[AnnotationQuery, ...]] = (
    AnnotationQuery(
        name="Model rollouts",
        sql=f"""SELECT event_time AS time,
    concat('model ', model_version, ' → ', rollout_mode, ' by ', ifNull(decided_by, '?'),
        ': ', ifNull(reason, '')) AS text, rollout_mode AS tags
FROM model_updates FINAL
WHERE $__timeFilter(event_time) AND {_UPDATE_PLACE}
ORDER BY time""",
        colour="purple",
        columns=(("time", "time"), ("text", "string"), ("tags", "string")),
    ),
)
