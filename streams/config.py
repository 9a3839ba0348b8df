"""What a stream worker needs to know, in one frozen value of streams' own.

``infra`` owns the topic spec and the settings; ``streams`` must not import it (dependencies
point ``infra -> streams``). So the CLI layer reads the spec and the environment and hands
the worker a :class:`WorkerConfig`. The names of the topics a worker reads and writes come
from the catalogue (:class:`schemas.topics.Topics`); a prefixed catalogue and ``app_prefix``
let tests and several deployments share one cluster.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from leakguard.classes import DEFAULT_ALARM_THRESHOLD
from schemas.images import DEFAULT_MAX_IMAGE_BYTES, DEFAULT_MAX_PIXELS
from schemas.topics import Topics
from streams.exceptions import StreamsConfigError
from streams.frame_store import DEFAULT_KEPT_RETENTION_S, DEFAULT_STAGING_RETENTION_S
from streams.tip import TipRates

__all__ = [
    "JOIN_PARTITIONS",
    "Role",
    "WorkerConfig",
    "app_id",
    "cloud_expiry_topic",
    "join_table_changelog",
]

Role = Literal["edge", "cloud"]
#: Partitions of ``detections`` and ``guard.verdicts`` (infra/topics.toml): the join's
#: tables and internal topics must have the same count to stay co-partitioned.
JOIN_PARTITIONS: Final[int] = 8
#: Frames per inference batch: the engine's own batch size, where CPU throughput levels off.
DEFAULT_BATCH_SIZE: Final[int] = 8
#: Longest a frame waits for batch-mates: a lone frame is answered within 50 ms.
DEFAULT_BATCH_TIMEOUT_S: Final[float] = 0.05
#: A frame with no verdict after 10 minutes is unreviewed: guards answer within a minute.
DEFAULT_UNREVIEWED_AFTER_S: Final[float] = 600.0
#: How often the cloud looks for frames past the review deadline.
DEFAULT_EXPIRY_CHECK_S: Final[float] = 5.0
#: How long a resolved frame is remembered so a replay produces nothing: the 7-day
#: retention of ``detections`` and ``guard.verdicts``.
DEFAULT_RESOLVED_RETENTION_S: Final[float] = 7 * 86_400.0
#: How often the cloud deletes frame images past their retention: hourly keeps a day's
#: staged frames from piling up while a full listing of the store stays rare.
DEFAULT_FRAME_SWEEP_INTERVAL_S: Final[float] = 3600.0


def app_id(role: Role, app_prefix: str = "", site: str | None = None) -> str:
    """The Faust app id of ``role``: the consumer group and the prefix of internal topics;
    a site's edges are a group of their own (``leakguard-edge-<site>``).

    A function beside :class:`WorkerConfig` so that ``infra`` can name the internal topics
    (to create them ahead of any worker) without building a worker's whole configuration.
    """
    return f"{app_prefix}leakguard-{role}" + ("" if site is None else f"-{site}")


def join_table_changelog(app_prefix: str = "") -> str:
    """The changelog topic of the cloud's join table (Faust's naming)."""
    return f"{app_id('cloud', app_prefix)}-frames-changelog"


def cloud_expiry_topic(app_prefix: str = "") -> str:
    """The cloud's internal topic of review-deadline ticks, co-partitioned with the join."""
    return f"{app_id('cloud', app_prefix)}-expiry"


#: The torch devices an edge may name.
_DEVICE: Final = re.compile(r"cpu|cuda(:\d+)?")


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerConfig:
    """One worker's options; each is documented with its default.

    - ``role``: ``edge`` (detect agent) or ``cloud`` (outcome join, alerts, annotation).
    - ``bootstrap_servers``: Kafka ``host:port[,...]``.
    - ``client_config``: the librdkafka security settings of every Kafka client
      (``security.protocol``, ``sasl.*``, ``ssl.*``); the Faust app gets them as its
      ``broker_credentials``, the model manager as they are.
    - ``topics``: topic names; ``app_prefix``: prefix of the Faust app id and its internal
      topics (default ``""``: app ids ``leakguard-edge`` / ``leakguard-cloud``).
    - ``worker_id``: stamped on dead letters (default: host name and role).
    - ``model_path``: the edge's model artifact directory (required for ``edge``).
    - ``alarm_threshold``: the score at which a storage medium alarms, for the served model
      and every model rolled out to this edge (0.5); a checkpoint's operating point. A
      retrained model whose card was calibrated for this threshold alarms at its own
      (:mod:`detector.operating_point`).
    - ``device``: where the edge runs its models, the served one and every rolled-out one:
      ``cpu`` (the default and the tested path), ``cuda`` or ``cuda:N``.
    - ``frame_store_url``: where frame images are staged and kept (fsspec URL).
    - ``batch_size`` / ``batch_timeout_s``: inference batching (8, 0.05 s).
    - ``unreviewed_after_s`` / ``expiry_check_s``: review deadline (600 s) and how often
      it is checked (5 s); ``resolved_retention_s``: replay protection (7 days).
    - ``max_image_bytes`` / ``max_pixels``: image caps against abuse and bombs.
    - ``claim_check_roots``: where the edge may read claim-check images (fsspec URLs or
      directories; none by default: inline frames only). A frame naming anything else is
      dead-lettered, so an event cannot make the edge read a file of its choosing.
    - ``staging_retention_s`` / ``kept_retention_s``: frame store retention of staged
      (1 day) and kept (90 days) images; ``frame_sweep_interval_s``: how often the cloud
      deletes expired images (3600 s).
    - ``metrics_port``: Prometheus endpoint port (``None``: no endpoint).
    - ``checkpoint``: the checkpoint an edge serves (None: every one); its detections are
      tagged with that checkpoint's key.
    - ``event_keyring``: keyring file of producer keys (:mod:`schemas.authenticity`; None:
      no tags). The edge tags its detections with it; the cloud refuses (dead-letters)
      detections and verdicts whose producer tag is missing or wrong.
    - ``join_partitions``: partitions of the join's internal topics (8, as ``detections``).
    - ``site``: the site an edge serves (None: the fleet-wide topics): its consumer group is
      ``leakguard-edge-<site>``, so sites scale and commit apart; ``topics`` already names
      the site's topics (the wiring resolves them).
    - ``site_topics``: the cloud's: the catalogues of the sites whose detections and
      verdicts it joins besides those of ``topics`` (default none). All of them keep the
      join's partition count, so Faust co-partitions them with the join table.
    - ``tip_rates``: the edge's threat image projection rates per lane (:mod:`streams.tip`;
      default none: no frame is projected); ``tip_seed`` varies which frames and media.
    """

    role: Role
    bootstrap_servers: str
    client_config: Mapping[str, str] = field(default_factory=dict)
    topics: Topics = field(default_factory=Topics)
    app_prefix: str = ""
    worker_id: str = ""
    model_path: str | None = None
    alarm_threshold: float = DEFAULT_ALARM_THRESHOLD
    device: str = "cpu"
    frame_store_url: str = ".leakguard/frames"
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_timeout_s: float = DEFAULT_BATCH_TIMEOUT_S
    unreviewed_after_s: float = DEFAULT_UNREVIEWED_AFTER_S
    expiry_check_s: float = DEFAULT_EXPIRY_CHECK_S
    resolved_retention_s: float = DEFAULT_RESOLVED_RETENTION_S
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    claim_check_roots: tuple[str, ...] = ()
    staging_retention_s: float = DEFAULT_STAGING_RETENTION_S
    kept_retention_s: float = DEFAULT_KEPT_RETENTION_S
    frame_sweep_interval_s: float = DEFAULT_FRAME_SWEEP_INTERVAL_S
    metrics_port: int | None = None
    join_partitions: int = JOIN_PARTITIONS
    checkpoint: str | None = None
    event_keyring: str | None = None
    site: str | None = None
    site_topics: tuple[Topics, ...] = ()
    tip_rates: TipRates = field(default_factory=TipRates)
    tip_seed: int = 0

    def __post_init__(self) -> None:
        if self.role not in ("edge", "cloud"):
            raise StreamsConfigError(f"role must be edge or cloud, got {self.role!r}")
        if self.role == "cloud" and self.site is not None:
            raise StreamsConfigError(
                "the cloud worker serves the whole fleet, not one site: list the sites it "
                "joins in site_topics"
            )
        if self.role == "edge" and self.site_topics:
            raise StreamsConfigError("an edge reads one site's topics: set topics and site")
        if self.role == "edge" and not self.model_path:
            raise StreamsConfigError("an edge worker needs a model artifact (model_path)")
        if not 0.0 < self.alarm_threshold <= 1.0:
            raise StreamsConfigError(
                f"alarm_threshold must be in (0, 1], got {self.alarm_threshold}"
            )
        if not _DEVICE.fullmatch(self.device):
            raise StreamsConfigError(f"device must be cpu, cuda or cuda:N, got {self.device!r}")
        if self.batch_size < 1 or self.batch_timeout_s <= 0:
            raise StreamsConfigError("batch_size must be >= 1 and batch_timeout_s > 0")
        if self.unreviewed_after_s <= 0 or self.expiry_check_s <= 0:
            raise StreamsConfigError("unreviewed_after_s and expiry_check_s must be > 0")
        if min(self.staging_retention_s, self.kept_retention_s, self.frame_sweep_interval_s) <= 0:
            raise StreamsConfigError(
                "staging_retention_s, kept_retention_s and frame_sweep_interval_s must be > 0"
            )
        if not self.bootstrap_servers:
            raise StreamsConfigError("bootstrap_servers is empty")
        if not self.worker_id:
            object.__setattr__(self, "worker_id", f"{socket.gethostname()}-{self.role}")

    @property
    def app_id(self) -> str:
        """The Faust app id: the consumer group and the prefix of internal topics."""
        return app_id(self.role, self.app_prefix, self.site)

    @property
    def join_table_changelog(self) -> str:
        """The changelog topic of the cloud's join table (Faust's naming)."""
        return join_table_changelog(self.app_prefix)

    @property
    def expiry_topic(self) -> str:
        """The cloud's internal topic of review-deadline ticks, co-partitioned with the join."""
        return cloud_expiry_topic(self.app_prefix)

    def consumed_topics(self) -> tuple[str, ...]:
        """The topics the worker's consumer group reads (and commits offsets on)."""
        if self.role == "edge":
            return (self.topics.frames,)
        return (*self.detection_topics(), *self.verdict_topics(), self.expiry_topic)

    def detection_topics(self) -> tuple[str, ...]:
        """The ``detections`` topics the cloud joins: its own and every site's."""
        return tuple(topics.detections for topics in (self.topics, *self.site_topics))

    def verdict_topics(self) -> tuple[str, ...]:
        """The ``guard.verdicts`` topics the cloud joins: its own and every site's."""
        return tuple(topics.verdicts for topics in (self.topics, *self.site_topics))

    def internal_topics(self) -> dict[str, int]:
        """Topics Faust needs besides the spec's, with their partition counts."""
        if self.role == "edge":
            return {}
        return {
            self.join_table_changelog: self.join_partitions,
            self.expiry_topic: self.join_partitions,
        }

    def internal_topic_configs(self) -> dict[str, dict[str, str]]:
        """The configuration of the internal topics that need one: the join changelog is
        compacted and kept for ever, as ``leakguard topics apply`` creates it; a worker that
        creates it itself (no ``apply`` run) must not make a changelog the broker deletes
        by age, which would forget unresolved frames on recovery."""
        if self.role == "edge":
            return {}
        return {self.join_table_changelog: {"cleanup.policy": "compact", "retention.ms": "-1"}}
