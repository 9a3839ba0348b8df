"""Kafka for the tests, written once: topics, producers, readers and consumer groups on the
session's embedded broker (``kafka_bootstrap`` in tests/conftest.py).

Every test works on topics of its own, named under a prefix no other test uses, created
before any client touches them: the embedded Tansu broker auto-creates an unknown topic with
4 partitions on the first metadata request, and a wrong partition count silently moves keys
to other partitions than the workers expect. Readers assign partitions instead of joining a
group (no rebalance wait); workers under test get group consumers with the short session
timeout Tansu needs to complete a join quickly.
"""

from __future__ import annotations

import datetime
import ipaddress
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeAlias, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from infra.settings import load_settings
from infra.stack import admin_client
from infra.topic_overrides import effective_spec
from infra.topics import TopicsSpec, apply_topics
from schemas import Codec, Event
from schemas.topics import Topics
from streams.kafka_admin import ensure_topics

__all__ = [
    "KafkaRecord",
    "Pki",
    "StreamTopics",
    "TopicReader",
    "committed",
    "create_topics",
    "decoded",
    "ends_of",
    "group_config",
    "group_consumer",
    "make_pki",
    "make_producer",
    "make_topics",
    "produce",
    "publish",
    "read_topic",
    "reported_ends",
    "uncommitted",
    "wait_committed",
]

E = TypeVar("E", bound=Event)

#: ``(topic, key, value)`` of one message to produce; a ``None`` value is a tombstone.
KafkaRecord: TypeAlias = tuple[str, bytes | None, bytes | None]

#: Faust and Java clients hash keys with murmur2 (librdkafka's default is crc32): the same
#: key lands on the same partition as the workers' own messages, so keys co-partition.
PARTITIONER: Final = "murmur2_random"
#: Tests send bursts, not streams: a few milliseconds are enough to fill a batch.
LINGER_MS: Final = 5
#: A frame with an inline image (``scanner.frames`` takes 10 MiB) plus its envelope.
MAX_MESSAGE_BYTES: Final = 12_000_000
#: Time ``produce`` waits for every delivery: 160,000 messages on a loaded 2-core machine.
DELIVERY_TIMEOUT_S: Final = 120.0
#: Pause while the producer's local queue is full, letting deliveries drain it.
BUFFER_FULL_WAIT_S: Final = 0.1

#: Tansu completes a group join only after about the session timeout (Kafka's default,
#: 45 s, would make every worker under test wait that long for its partitions).
GROUP_SESSION_TIMEOUT_MS: Final = 6000
#: Heartbeats well inside the session timeout.
GROUP_HEARTBEAT_MS: Final = 500

#: librdkafka requires a group id even for a reader that only assigns; it joins no group.
READER_GROUP: Final = "unused-reader"
#: Longest single wait for messages: readers re-check their condition this often.
POLL_S: Final = 0.5
#: Messages one poll may return.
POLL_BATCH: Final = 500
#: Time a metadata, offsets or committed-offsets request may take.
REQUEST_TIMEOUT_S: Final = 30.0
#: How long ``uncommitted`` reads past the committed offsets for messages left there.
UNCOMMITTED_READ_S: Final = 5.0
#: How often ``wait_committed`` asks for a group's committed offsets.
COMMIT_POLL_S: Final = 0.5

_CODEC = Codec()


# -- topics ----------------------------------------------------------------------------------


def make_topics(
    bootstrap: str,
    prefix: str,
    *,
    only: Iterable[str] | None = None,
    kafka: Mapping[str, Any] | None = None,
    sites: Iterable[str] = (),
) -> Topics:
    """Create ``prefix``-ed copies of the topic spec's topics (``infra/topics.toml``) with the
    spec's partition counts and configurations, as ``leakguard stack up`` does, and of the
    topics of ``sites`` as ``leakguard topics apply --site`` does.

    ``only`` picks topics by their unprefixed spec name (``"alerts"``, ``"deadletter"``,
    ``"detections.north"``); all of them by default. ``kafka`` adds to the Kafka settings
    block the admin client is built from (``{"security_protocol": "SSL", ...}``). Returns
    the whole catalogue with ``prefix`` in front of every name, created or not. An unknown
    name is a ``ValueError``.
    """
    spec = effective_spec(None, None, sites)
    wanted = spec.names if only is None else list(only)
    unknown = sorted(set(wanted) - set(spec.topics))
    if unknown:
        raise ValueError(f"not in the topic spec: {', '.join(unknown)}")
    prefixed = TopicsSpec(
        {
            prefix + name: spec.topics[name].model_copy(update={"name": prefix + name})
            for name in wanted
        }
    )
    settings = load_settings(kafka={**(kafka or {}), "bootstrap_servers": bootstrap})
    apply_topics(admin_client(settings, bootstrap), prefixed)
    return Topics().prefixed(prefix)


def create_topics(
    bootstrap: str, partitions: Mapping[str, int], *, client_config: Mapping[str, str] | None = None
) -> None:
    """Create topics outside the spec, ``name -> partition count`` (a test that counts
    offsets wants one partition); an existing topic with another count is an error.
    ``client_config`` adds librdkafka security options."""
    ensure_topics(bootstrap, partitions, client_config=client_config)


# -- producing -------------------------------------------------------------------------------


def make_producer(bootstrap: str, **config: Any) -> Producer:
    """A producer that partitions keys as Faust and Java clients do; ``config`` adds or
    overrides librdkafka options (``**{"linger.ms": 1000}``). The caller closes it."""
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "partitioner": PARTITIONER,
            "linger.ms": LINGER_MS,
            "message.max.bytes": MAX_MESSAGE_BYTES,
            **config,
        }
    )


def produce(
    producer: Producer, records: Iterable[KafkaRecord], *, timeout_s: float = DELIVERY_TIMEOUT_S
) -> None:
    """Produce every record and wait until all are delivered.

    A full local queue is waited out (``BufferError``), never dropped. Raises
    ``RuntimeError`` when a message is refused or not delivered within ``timeout_s``.
    """
    failed: list[str] = []

    def delivered(error: Any, message: Message) -> None:
        if error is not None:
            failed.append(f"{message.topic()}: {error}")

    for topic, key, value in records:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(BUFFER_FULL_WAIT_S)
        producer.poll(0)  # serve delivery reports as they come, not all at the end
    left = producer.flush(timeout_s)
    if left or failed:
        raise RuntimeError(
            f"{left} test messages not delivered in {timeout_s:.0f} s, "
            f"{len(failed)} refused: {failed[:3]}"
        )


def publish(
    bootstrap: str, records: Iterable[KafkaRecord], *, timeout_s: float = DELIVERY_TIMEOUT_S
) -> None:
    """``produce`` through a producer of its own, closed afterwards."""
    producer = make_producer(bootstrap)
    try:
        produce(producer, records, timeout_s=timeout_s)
    finally:
        producer.close()


@dataclass(frozen=True)
class StreamTopics:
    """One test's copy of every topic on the shared broker (``stream_topics`` fixture),
    and the producers the test wrote with, closed by :meth:`close`."""

    bootstrap: str
    prefix: str
    names: Topics
    producers: list[Producer] = field(default_factory=list)

    @classmethod
    def create(cls, bootstrap: str, prefix: str) -> StreamTopics:
        """Every topic of the spec, created under ``prefix``."""
        return cls(bootstrap, prefix, make_topics(bootstrap, prefix))

    def producer(self, **config: Any) -> Producer:
        """A :func:`make_producer` producer, flushed and closed by :meth:`close`."""
        out = make_producer(self.bootstrap, **config)
        self.producers.append(out)
        return out

    def close(self) -> None:
        """Flush and close the test's producers, so none is left to log "Connect failed"
        when the session broker stops."""
        for out in self.producers:
            out.flush(10)
            out.close()


# -- reading without a group -----------------------------------------------------------------


class TopicReader:
    """Every message of one topic from its beginning, accumulated across calls.

    Partitions are assigned, not subscribed to: no group, so no rebalance wait, and nothing
    committed. Close it (or use it as a context manager) when done.
    """

    def __init__(
        self, bootstrap: str, topic: str, *, client_config: Mapping[str, str] | None = None
    ) -> None:
        self.topic = topic
        self.messages: list[Message] = []
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": READER_GROUP,
                "enable.auto.commit": False,
                **(client_config or {}),
            }
        )
        metadata = self._consumer.list_topics(topic, timeout=REQUEST_TIMEOUT_S)
        partitions = metadata.topics[topic].partitions
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])

    def poll_until(
        self,
        until: Callable[[list[Message]], bool],
        *,
        timeout_s: float,
        check: Callable[[], None] | None = None,
    ) -> list[Message]:
        """Every message so far, once ``until(messages)`` holds or ``timeout_s`` has passed.

        ``check`` runs between polls: let it raise to stop early (a worker that died).
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not until(self.messages):
            if check is not None:
                check()
            self._poll()
        return list(self.messages)

    def read(self, *, at_least: int, timeout_s: float, settle_s: float = 0.0) -> list[bytes]:
        """The values so far, once there are ``at_least`` (or at the timeout), after reading
        ``settle_s`` longer to catch extra messages that must not be there."""
        self.poll_until(lambda got: len(got) >= at_least, timeout_s=timeout_s)
        settle_until = time.monotonic() + settle_s
        while time.monotonic() < settle_until:
            self._poll()
        return [message.value() or b"" for message in self.messages]

    def events(
        self, event_type: type[E], *, at_least: int, timeout_s: float, settle_s: float = 0.0
    ) -> list[E]:
        """:meth:`read`, each value decoded as ``event_type``."""
        values = self.read(at_least=at_least, timeout_s=timeout_s, settle_s=settle_s)
        return [_CODEC.decode(value, event_type) for value in values]

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _poll(self) -> None:
        for message in self._consumer.consume(num_messages=POLL_BATCH, timeout=POLL_S):
            if message.error() is None:
                self.messages.append(message)


def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[Message]], bool],
    timeout_s: float,
    check: Callable[[], None] | None = None,
    client_config: Mapping[str, str] | None = None,
) -> list[Message]:
    """Every message of ``topic`` from the beginning, until ``until(messages)`` or the
    timeout (see :meth:`TopicReader.poll_until`); ``client_config`` adds librdkafka
    security options."""
    with TopicReader(bootstrap, topic, client_config=client_config) as reader:
        return reader.poll_until(until, timeout_s=timeout_s, check=check)


def decoded(
    messages: Iterable[Message], event_type: type[E], codec: Codec | None = None
) -> list[E]:
    """Each of ``messages`` (e.g. what :func:`read_topic` returned) decoded as ``event_type``,
    in order: the one way the tests turn messages read into events.

    A message without a value (a tombstone) decodes as empty bytes, so the codec rejects it
    with its readable :class:`~schemas.DecodeError` (shorter than the header), and the value
    passed is the ``bytes`` that :meth:`Codec.decode` is typed for, not ``bytes | None``.
    ``codec`` defaults to a plain :class:`Codec`; pass a test's own where it is configured
    otherwise (limits, schema store).
    """
    codec = codec if codec is not None else _CODEC
    return [codec.decode(message.value() or b"", event_type) for message in messages]


def ends_of(messages: Iterable[Message]) -> dict[tuple[str, int], int]:
    """``(topic, partition) -> offset after the last message read`` there.

    Read rather than asked for: the embedded broker's ListOffsets answer lags behind what a
    fetch returns (see :func:`reported_ends`).
    """
    ends: dict[tuple[str, int], int] = {}
    for message in messages:
        where = (message.topic(), message.partition())
        ends[where] = max(ends.get(where, 0), message.offset() + 1)
    return ends


def reported_ends(bootstrap: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
    """``partition -> end offset`` as the broker reports it (the high watermark)."""
    with Consumer({"bootstrap.servers": bootstrap, "group.id": READER_GROUP}) as consumer:
        return {
            partition: consumer.get_watermark_offsets(
                TopicPartition(topic, partition), REQUEST_TIMEOUT_S
            )[1]
            for partition in partitions
        }


# -- consumer groups -------------------------------------------------------------------------


def group_config(bootstrap: str, group: str, **overrides: Any) -> dict[str, Any]:
    """Configuration of a consumer in ``group`` that reads from the earliest offset, commits
    only when told to, and joins within seconds on Tansu; ``overrides`` win."""
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": GROUP_SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": GROUP_HEARTBEAT_MS,
        **overrides,
    }


def group_consumer(bootstrap: str, group: str, **overrides: Any) -> Consumer:
    """A consumer configured by :func:`group_config`; the caller closes it."""
    return Consumer(group_config(bootstrap, group, **overrides))


def committed(bootstrap: str, group: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """``(topic, partition) -> the offset group`` has committed, for every partition of
    ``topics``; negative where it has committed none. Joins no group."""
    with Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    ) as consumer:
        return _committed(consumer, topics)


def uncommitted(bootstrap: str, group: str, topics: Iterable[str]) -> list[str]:
    """The messages of ``topics`` after ``group``'s committed offsets, as
    ``topic[partition]@offset``.

    Read for :data:`UNCOMMITTED_READ_S` rather than compared with the ends the broker
    reports, which lag behind what a fetch returns.
    """
    with Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    ) as consumer:
        offsets = _committed(consumer, topics)
        consumer.assign(
            [
                TopicPartition(topic, partition, offset if offset >= 0 else OFFSET_BEGINNING)
                for (topic, partition), offset in offsets.items()
            ]
        )
        left = []
        deadline = time.monotonic() + UNCOMMITTED_READ_S
        while time.monotonic() < deadline:
            message = consumer.poll(POLL_S)
            if message is not None and message.error() is None:
                left.append(f"{message.topic()}[{message.partition()}]@{message.offset()}")
        return left


def wait_committed(
    bootstrap: str,
    group: str,
    ends: Mapping[tuple[str, int], int],
    *,
    timeout_s: float,
    check: Callable[[], None] | None = None,
) -> None:
    """Until ``group`` has committed at least ``ends`` (see :func:`ends_of`) on each of those
    partitions: its consumer has processed every message below them, and a Faust worker
    has flushed what it produced from them (Faust flushes its producer before committing).

    ``check`` runs between tries. Raises ``AssertionError`` naming the partitions still
    behind at the deadline.
    """
    deadline = time.monotonic() + timeout_s
    topics = {topic for topic, _ in ends}
    while True:
        offsets = committed(bootstrap, group, topics)
        behind = {
            f"{topic}[{partition}]": f"{offsets.get((topic, partition), -1)} < {end}"
            for (topic, partition), end in ends.items()
            if offsets.get((topic, partition), -1) < end
        }
        if not behind:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"group {group} still behind after {timeout_s:.0f} s: {behind}")
        if check is not None:
            check()
        time.sleep(COMMIT_POLL_S)


def _committed(consumer: Consumer, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    metadata = consumer.list_topics(timeout=REQUEST_TIMEOUT_S)
    partitions = [
        TopicPartition(topic, partition)
        for topic in topics
        for partition in metadata.topics[topic].partitions
    ]
    return {
        (tp.topic, tp.partition): tp.offset
        for tp in consumer.committed(partitions, timeout=REQUEST_TIMEOUT_S)
    }


# -- TLS -------------------------------------------------------------------------------------

#: Throw-away certificates outlive any test run by far and expire long before anyone reuses one.
PKI_VALIDITY: Final = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Pki:
    """A throw-away CA and the PEM files of the server and client certificates it signed."""

    ca: Path
    server_certificate: Path
    server_key: Path
    client_certificate: Path
    client_key: Path


def make_pki(
    folder: Path,
    *,
    host: str = "127.0.0.1",
    ca_name: str = "leakguard test CA",
    client_key_password: bytes | None = None,
) -> Pki:
    """A CA, a server certificate for ``host`` (IP address or DNS name) and a client
    certificate, written to ``folder`` (created). Extensions as strict verifiers (OpenSSL 3,
    librdkafka, Python's ``ssl``) require: key usages and key identifiers."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
    ca_certificate = (
        _certificate_builder(ca_subject, ca_subject, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(
        name: str, usage: x509.ObjectIdentifier, names: list[x509.GeneralName]
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            _certificate_builder(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]),
                ca_subject,
                key.public_key(),
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    try:
        server_name: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        server_name = x509.DNSName(host)
    server, server_key = leaf(host, ExtendedKeyUsageOID.SERVER_AUTH, [server_name])
    client, client_key = leaf("leakguard test client", ExtendedKeyUsageOID.CLIENT_AUTH, [])
    pki = Pki(
        ca=folder / "ca.pem",
        server_certificate=folder / "server.pem",
        server_key=folder / "server-key.pem",
        client_certificate=folder / "client.pem",
        client_key=folder / "client-key.pem",
    )
    pki.ca.write_bytes(ca_certificate.public_bytes(serialization.Encoding.PEM))
    pki.server_certificate.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    pki.server_key.write_bytes(_private_pem(server_key, None))
    pki.client_certificate.write_bytes(client.public_bytes(serialization.Encoding.PEM))
    pki.client_key.write_bytes(_private_pem(client_key, client_key_password))
    return pki


def _certificate_builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # clock skew of a busy machine
        .not_valid_after(now + PKI_VALIDITY)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _private_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if password is None
        else serialization.BestAvailableEncryption(password)
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
