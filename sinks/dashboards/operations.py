"""The operations dashboard's panels: is the fleet of workers keeping up, and is it healthy?

The business dashboard answers what the checkpoints saw; this one answers what an operator
is paged for: throughput per role, consumer lag, latency, dead letters, refused events,
which model each edge runs, and whether every process is up. Its queries read Prometheus,
which scrapes each long-running command's ``/metrics``, except the model versions, which
only the edges' ``ModelStatus`` reports carry (the analytics table ``model_status``).

Every metric named here is one the project's metric classes register
(``streams.metrics.WorkerMetrics``, the sink worker's, ``schemas.kafka_health.GroupLag``)
or Prometheus's own ``up``; a test parses every expression and checks. Prometheus names a
counter ``<name>_total`` and a histogram's series ``<name>_bucket`` / ``_sum`` / ``_count``.
Roles are told apart by their metrics (an edge consumes frames, the cloud join events, the
sink writes rows); ``up`` by the scrape jobs ``leakguard-<role>`` that docs/deploy.md's
Prometheus configuration names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sinks.dashboards.datasources import SCRAPE_JOBS
from sinks.dashboards.panels import Panel, Visualisation

__all__ = ["OPERATIONS", "RATE_WINDOW", "MetricsPanel", "PromQuery"]

#: Grafana's own range for ``rate()``: at least four scrape intervals, so no gap reads as 0.
RATE_WINDOW: Final = "$__rate_interval"


@dataclass(frozen=True, kw_only=True)
class PromQuery:
    """One PromQL expression of a panel and the legend of its series (``{{label}}``)."""

    expr: str
    legend: str


@dataclass(frozen=True, kw_only=True)
class MetricsPanel:
    """A panel on the Prometheus data source: what it shows and its queries."""

    title: str
    description: str
    empty: str
    queries: tuple[PromQuery, ...]
    visualisation: Visualisation = "timeseries"
    unit: str = "short"
    width: int = 12


def _rate(metric: str, by: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({metric}[{RATE_WINDOW}]))"


def _increase(metric: str, by: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (increase({metric}[{RATE_WINDOW}]))"


def _quantile(q: float) -> str:
    buckets = f"rate(leakguard_inference_latency_seconds_bucket[{RATE_WINDOW}])"
    return f"histogram_quantile({q}, sum by (le, instance) ({buckets}))"


#: Each edge's latest report (``ModelStatus``): the model it serves, the one it shadows and
#: when it last spoke. No time filter: an edge quiet for a week still runs its model.
_MODEL_PER_EDGE_SQL: Final = """SELECT worker_id, checkpoint,
    argMax(active_version, event_time_ms) AS active_version,
    argMax(shadow_version, event_time_ms) AS shadow_version,
    argMax(concat(model_version, ' ', state), event_time_ms) AS last_report,
    max(event_time) AS reported_at
FROM model_status FINAL
GROUP BY worker_id, checkpoint
ORDER BY checkpoint, worker_id"""

OPERATIONS: Final[tuple[MetricsPanel | Panel, ...]] = (
    MetricsPanel(
        title="Events in per role",
        description="Messages each role consumes per second: frames at the edges, "
        "detections, verdicts and ticks at the cloud join.",
        empty="Rates appear once Prometheus has scraped a running worker twice.",
        queries=(
            PromQuery(expr=_rate("leakguard_frames_in_total"), legend="edge: frames"),
            PromQuery(expr=_rate("leakguard_join_events_in_total"), legend="cloud join: events"),
        ),
        unit="ops",
    ),
    MetricsPanel(
        title="Events out per role",
        description="What each role produces per second: detections at the edges; outcomes, "
        "alerts and annotation tasks at the cloud join; rows the analytics sink writes.",
        empty="Rates appear once Prometheus has scraped a running worker twice.",
        queries=(
            PromQuery(expr=_rate("leakguard_detections_out_total"), legend="edge: detections"),
            PromQuery(expr=_rate("leakguard_outcomes_total"), legend="cloud: outcomes"),
            PromQuery(expr=_rate("leakguard_alerts_total"), legend="cloud: alerts"),
            PromQuery(
                expr=_rate("leakguard_annotation_tasks_total"), legend="cloud: annotation tasks"
            ),
            PromQuery(expr=_rate("leakguard_sink_rows_total"), legend="sink: rows"),
        ),
        unit="ops",
    ),
    MetricsPanel(
        title="Consumer lag",
        description="Messages each consumer group has not committed yet, per topic (every "
        "member reports its whole group's lag, hence the max per partition). A line that "
        "keeps rising is a group falling behind.",
        empty="Lag appears once a worker has measured its group's offsets.",
        queries=(
            PromQuery(
                expr="sum by (group, topic) "
                "(max by (group, topic, partition) (leakguard_consumer_lag))",
                legend="{{group}} {{topic}}",
            ),
        ),
        width=24,
    ),
    MetricsPanel(
        title="Inference latency",
        description="Wall time of one inference batch per edge: median and p95.",
        empty="Latency appears once an edge has run inference.",
        queries=(
            PromQuery(expr=_quantile(0.5), legend="p50 {{instance}}"),
            PromQuery(expr=_quantile(0.95), legend="p95 {{instance}}"),
        ),
        unit="s",
    ),
    MetricsPanel(
        title="Frames waiting at the edge",
        description="Frames an edge took from Kafka and has not answered yet.",
        empty="Queue depths appear once an edge is scraped.",
        queries=(PromQuery(expr="leakguard_queue_depth", legend="{{instance}}"),),
    ),
    MetricsPanel(
        title="Dead letters per topic",
        description="Messages sent to the dead-letter topic per time bucket: by the source "
        "topic of the workers' dead letters, and the analytics sink's.",
        empty="None (good): a message a worker cannot read or process would be counted here.",
        queries=(
            PromQuery(expr=_increase("leakguard_dead_letters_total", "topic"), legend="{{topic}}"),
            PromQuery(expr=_increase("leakguard_sink_dead_letters_total"), legend="analytics sink"),
        ),
    ),
    MetricsPanel(
        title="Unauthenticated events",
        description="Detections and verdicts the cloud join refused for a missing or wrong "
        "producer tag, per time bucket: a forged or misconfigured producer.",
        empty="None (good): an event without a valid producer tag would be counted here.",
        queries=(
            PromQuery(
                expr=_increase("leakguard_events_unauthenticated_total", "instance"),
                legend="{{instance}}",
            ),
        ),
    ),
    MetricsPanel(
        title="Faults absorbed",
        description="Failures the workers survived, per time bucket: frames detected although "
        "the frame store refused their image, join entries dropped on recovery, and analytics "
        "inserts retried while ClickHouse was unavailable.",
        empty="None (good): each absorbed failure would be counted here.",
        queries=(
            PromQuery(expr=_increase("leakguard_frames_unstaged_total"), legend="frames unstaged"),
            PromQuery(
                expr=_increase("leakguard_join_entries_dropped_total"),
                legend="join entries dropped",
            ),
            PromQuery(
                expr=_increase("leakguard_sink_insert_retries_total"), legend="sink insert retries"
            ),
        ),
    ),
    MetricsPanel(
        title="Health",
        description="Whether Prometheus reaches each leakguard process (1 up, 0 down); a "
        "process's own liveness and readiness checks answer on its /healthz.",
        empty="Processes appear once Prometheus scrapes the leakguard-<role> jobs.",
        queries=(PromQuery(expr=f"up{{{SCRAPE_JOBS}}}", legend="{{job}} {{instance}}"),),
        visualisation="stat",
        width=24,
    ),
    Panel(
        title="Model version per edge",
        description="Each edge worker's latest model report: the model it serves (active), "
        "the one it runs beside it (shadow), its last report and when it was sent.",
        empty="Edges appear here once an edge worker reports its model state.",
        sql=_MODEL_PER_EDGE_SQL,
        visualisation="table",
        columns=(
            ("worker_id", "string"),
            ("checkpoint", "string"),
            ("active_version", "string"),
            ("shadow_version", "string"),
            ("last_report", "string"),
            ("reported_at", "time"),
        ),
        width=24,
    ),
)
