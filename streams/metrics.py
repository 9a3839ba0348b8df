"""Worker metrics in Prometheus format, on a registry per worker (never the global one).

One :class:`WorkerMetrics` per app, so two apps in one process (tests, benchmarks) keep
separate counts and no state hides in module globals.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = ["WorkerMetrics"]

#: Inference latency buckets (seconds): tiny CPU models take ms, the edge preset ~0.1-2 s.
LATENCY_BUCKETS_S: Final[tuple[float, ...]] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class WorkerMetrics:
    """Counters, the inference latency histogram and the queue depth of one worker."""

    def __init__(self, *, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.frames_in = Counter("leakguard_frames_in", "ScanFrame messages consumed", registry=r)
        self.detections_out = Counter(
            "leakguard_detections_out", "Detection events produced", registry=r
        )
        self.frames_unstaged = Counter(
            "leakguard_frames_unstaged",
            "Frames detected although the frame store refused their image (alarm without image)",
            registry=r,
        )
        self.inference_latency = Histogram(
            "leakguard_inference_latency_seconds",
            "Wall time of one inference batch",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.queue_depth = Gauge(
            "leakguard_queue_depth", "Frames taken from Kafka and not yet answered", registry=r
        )
        self.join_events_in = Counter(
            "leakguard_join_events_in",
            "Detections, verdicts and ticks the join consumed",
            registry=r,
        )
        self.join_entries_dropped = Counter(
            "leakguard_join_entries_dropped",
            "Join table entries recovered from the changelog that were no entry (dropped)",
            registry=r,
        )
        self.events_unauthenticated = Counter(
            "leakguard_events_unauthenticated",
            "Detections and verdicts refused for a missing or wrong producer tag",
            registry=r,
        )
        self.outcomes = Counter(
            "leakguard_outcomes", "Outcome events produced", ["kind"], registry=r
        )
        self.alerts = Counter("leakguard_alerts", "Alert events produced", registry=r)
        self.tip_results = Counter(
            "leakguard_tip_results",
            "TipResult events produced (threat image projection frames answered)",
            ["result"],
            registry=r,
        )
        self.annotation_tasks = Counter(
            "leakguard_annotation_tasks", "AnnotationTask events produced", registry=r
        )
        self.frames_swept = Counter(
            "leakguard_frames_swept",
            "Frame store images deleted after their retention",
            registry=r,
        )
        self.dead_letters = Counter(
            "leakguard_dead_letters",
            "Messages sent to the dead-letter topic",
            ["topic"],
            registry=r,
        )

    def serve(self, port: int, *, addr: str = "0.0.0.0") -> None:
        """Expose ``/metrics`` on ``port`` (a daemon thread of prometheus_client)."""
        start_http_server(port, addr=addr, registry=self.registry)
