"""What both Faust apps share: the app settings that make Faust work on any Kafka broker
(the embedded Tansu one included), topic objects and dead-letter routing."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from typing import Any, Final

import faust

from leakguard.logs import about
from schemas.authenticity import AuthenticityError, EventKeyring, Tagger
from schemas.codec import Codec
from schemas.dead_letter import SourceMessage, send_dead_letter
from streams.apps.recovery import OrderedTableManager
from streams.config import WorkerConfig
from streams.exceptions import StreamsConfigError
from streams.metrics import WorkerMetrics

__all__ = [
    "DeadLetters",
    "build_faust_app",
    "event_keyring",
    "faust_credentials",
    "producer_tagger",
    "raw_value",
]

#: Kafka security protocols, and the ones of them that speak TLS.
_PROTOCOLS: Final = frozenset({"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"})
_TLS_PROTOCOLS: Final = frozenset({"SSL", "SASL_SSL"})

log = logging.getLogger(__name__)
#: The librdkafka security options the workers translate. Any other (a PKCS#12 keystore,
#: PEM strings, switched-off verification) has no Faust equivalent: refused, not dropped.
_TRANSLATED: Final = frozenset(
    {
        "security.protocol",
        "sasl.mechanism",
        "sasl.username",
        "sasl.password",
        "ssl.ca.location",
        "ssl.certificate.location",
        "ssl.key.location",
        "ssl.key.password",
    }
)
_SECURITY_PREFIXES: Final = ("ssl.", "sasl.", "enable.ssl.")
#: SASL mechanisms aiokafka (under Faust) speaks with a user name and password.
_PASSWORD_MECHANISMS: Final = frozenset({"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"})

#: Rebalances finish in seconds, not Faust's default minute, so a restarted worker resumes
#: quickly; Tansu answers a JoinGroup only once the rebalance timeout has passed.
REBALANCE_TIMEOUT_S: Final[float] = 5.0
#: A killed worker's partitions move after 10 s (Kafka's default is 45 s).
SESSION_TIMEOUT_S: Final[float] = 10.0
HEARTBEAT_INTERVAL_S: Final[float] = 1.0
#: Records one poll hands to Faust. Unbounded (Faust's default), one poll of a backlog
#: returned every fetched record, and Faust's fetcher polls again only once it has put
#: them all into the agent's buffer: at an edge's 3 frames/s, 10,000 claim-check frames
#: kept it from polling for longer than the max poll interval. aiokafka then leaves the
#: group and rejoins only on the next poll, which Faust never makes for a revoked
#: assignment: the worker stopped for good (docs/streams.md). A bounded poll returns
#: within seconds at any rate the workers reach.
MAX_POLL_RECORDS: Final[int] = 500


def build_faust_app(config: WorkerConfig, **overrides: Any) -> faust.App:
    """A Faust app for ``config``: memory tables recovered from changelogs, no web server,
    no topic auto-declaration (see :mod:`streams.kafka_admin`), no leader topic."""
    brokers = [f"kafka://{server.strip()}" for server in config.bootstrap_servers.split(",")]
    options: dict[str, Any] = {
        "broker": brokers,
        "store": "memory://",
        "web_enabled": False,
        "topic_allow_declare": False,
        "topic_disable_leader": True,
        "topic_partitions": config.join_partitions,
        "topic_replication_factor": 1,
        "table_standby_replicas": 0,
        "broker_rebalance_timeout": REBALANCE_TIMEOUT_S,
        "broker_session_timeout": SESSION_TIMEOUT_S,
        "broker_heartbeat_interval": HEARTBEAT_INTERVAL_S,
        "broker_max_poll_records": MAX_POLL_RECORDS,
        "consumer_auto_offset_reset": "earliest",
        "processing_guarantee": "at_least_once",
        "producer_max_request_size": config.max_image_bytes + 1024 * 1024,
        "consumer_max_fetch_size": 16 * 1024 * 1024,
        "worker_redirect_stdouts": False,
        # Faust's recovery hand-over drops events fetched while it seeks (recovery.py).
        "TableManager": OrderedTableManager,
        **faust_credentials(config.client_config),
    }
    options.update(overrides)
    return faust.App(config.app_id, **options)


def faust_credentials(client_config: Mapping[str, str]) -> dict[str, Any]:
    """Faust's ``broker_credentials`` for the librdkafka security settings every other
    client of leakguard gets (``security.protocol``, ``sasl.*``, ``ssl.*``), so the workers
    reach a secured cluster as the consoles, sinks and bridges do; none for ``PLAINTEXT``.

    TLS checks the broker against ``ssl.ca.location`` (the system's CAs without one) and
    presents ``ssl.certificate.location`` / ``ssl.key.location`` when given.

    Raises :class:`StreamsConfigError` for a protocol, mechanism or option Faust cannot
    speak, and for unreadable certificates, rather than falling back to an unsecured
    connection or one without the client's identity.
    """
    untranslated = sorted(
        key
        for key in client_config
        if key.startswith(_SECURITY_PREFIXES) and key not in _TRANSLATED
    )
    if untranslated:
        raise StreamsConfigError(f"the workers cannot honour {', '.join(untranslated)}")
    protocol = client_config.get("security.protocol", "PLAINTEXT").upper()
    if protocol not in _PROTOCOLS:
        raise StreamsConfigError(f"unknown Kafka security.protocol {protocol!r}")
    context = None
    if protocol in _TLS_PROTOCOLS:
        context = _tls_context(client_config)
    elif any(key.startswith("ssl.") for key in client_config):
        raise StreamsConfigError(
            f"ssl.* options need security.protocol SSL or SASL_SSL, not {protocol}"
        )
    if protocol == "PLAINTEXT":
        return {}
    if protocol == "SSL":
        return {"broker_credentials": faust.SSLCredentials(context)}
    mechanism = client_config.get("sasl.mechanism", "PLAIN").upper()
    if mechanism not in _PASSWORD_MECHANISMS:
        raise StreamsConfigError(
            f"SASL mechanism {mechanism} is not supported by the workers "
            f"(use one of {', '.join(sorted(_PASSWORD_MECHANISMS))})"
        )
    credentials = faust.SASLCredentials(
        username=client_config.get("sasl.username"),
        password=client_config.get("sasl.password"),
        mechanism=mechanism,
        ssl_context=context,
    )
    return {"broker_credentials": credentials}


def _tls_context(client_config: Mapping[str, str]) -> ssl.SSLContext:
    """The TLS context of ``client_config``, loaded now so that a missing or wrong file
    stops the worker at start-up instead of failing every connection later."""
    ca = client_config.get("ssl.ca.location")
    certificate = client_config.get("ssl.certificate.location")
    key = client_config.get("ssl.key.location")
    password = client_config.get("ssl.key.password")
    if bool(certificate) != bool(key):
        raise StreamsConfigError("ssl.certificate.location and ssl.key.location go together")
    if password and not key:
        raise StreamsConfigError("ssl.key.password needs ssl.key.location")
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        raise StreamsConfigError(f"cannot load the Kafka CA bundle {ca}: {exc}") from exc
    if certificate:
        try:
            context.load_cert_chain(certificate, key, password)
        except (OSError, ssl.SSLError) as exc:
            raise StreamsConfigError(
                f"cannot load the Kafka client certificate {certificate} with key {key}: {exc}"
            ) from exc
    return context


class DeadLetters:
    """Routes failed messages to the dead-letter topic through the contract's helper."""

    def __init__(
        self, app: faust.App, config: WorkerConfig, metrics: WorkerMetrics, codec: Codec
    ) -> None:
        self._topic = app.topic(
            config.topics.dead_letters, key_serializer="raw", value_serializer="raw"
        )
        self._config = config
        self._metrics = metrics
        self._codec = codec

    def _produce(self, *, topic: str, key: bytes | None, value: bytes) -> object:
        return self._topic.send_soon(key=key, value=value)

    def send(self, message: SourceMessage, original: bytes, error: BaseException) -> None:
        """Dead-letter ``message`` (its original bytes) with the reason ``error`` gives."""
        log.warning(
            "dead-lettering %s[%d]@%d: %s",
            message.topic,
            message.partition,
            message.offset,
            str(error)[:500],
            extra=about(topic=message.topic, partition=message.partition, offset=message.offset),
        )
        send_dead_letter(
            self._produce,
            original,
            error,
            source=message,
            dead_letter_topic=self._config.topics.dead_letters,
            worker_id=self._config.worker_id,
            codec=self._codec,
        )
        self._metrics.dead_letters.labels(topic=message.topic).inc()


def event_keyring(config: WorkerConfig) -> EventKeyring | None:
    """The worker's producer keyring (None when it runs without tags); an unusable keyring
    stops the worker at start-up."""
    if config.event_keyring is None:
        return None
    try:
        return EventKeyring.load(config.event_keyring)
    except AuthenticityError as exc:
        raise StreamsConfigError(str(exc)) from exc


def producer_tagger(keyring: EventKeyring | None, config: WorkerConfig, role: str) -> Tagger | None:
    """How the worker tags what it produces as ``role`` for its checkpoint (None without a
    keyring); a keyring without the worker's key stops it at start-up."""
    if keyring is None:
        return None
    try:
        return keyring.tagger(role, config.checkpoint)
    except AuthenticityError as exc:
        raise StreamsConfigError(str(exc)) from exc


def raw_value(message: Any) -> bytes:
    """The original bytes of a consumed Faust message."""
    value = message.value
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else b""
