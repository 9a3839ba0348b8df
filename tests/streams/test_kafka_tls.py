"""Every Kafka client over real TLS with a client certificate (#21): the bundled Tansu cannot
serve TLS, so Debian's ``stunnel4`` terminates it in front of a Tansu broker that listens on
one loopback port and advertises stunnel's, so clients only ever learn the TLS address.
stunnel requires a client certificate signed by the test's throw-away CA.

Shown through TLS only: confluent-kafka clients with the CA and a client certificate create
topics, produce and read back; clients without a certificate, without trust in the CA or
without TLS are refused; ``leakguard worker`` processes configured only by
``LEAKGUARD_KAFKA__*`` join a detection and a verdict into an outcome (cloud) and detect
frames (edge); and ``leakguard demo`` runs its whole loop against the TLS cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from infra.broker import resolve_broker_binary, wait_for_metadata
from infra.processes import LOOPBACK, die_with_parent, free_port, terminate_process
from infra.settings import KafkaSettings
from retrain.keys import public_key_pem
from retrain.registry import Registry
from schemas import Codec, Detection, ModelStatus, Outcome
from schemas.topics import Topics
from streams.frame_store import FrameStore
from tests.infra.demo_kit import DEMO, assert_every_part_of_the_loop, demo_args
from tests.kafka_kit import (
    Pki,
    StreamTopics,
    create_topics,
    decoded,
    make_pki,
    make_producer,
    make_topics,
    produce,
    read_topic,
)
from tests.streams.conftest import Workers
from tests.streams.helpers import detection, obj, png, scan_frame, verdict

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STUNNEL: Final = shutil.which("stunnel4") or shutil.which("stunnel")
#: Tansu and stunnel start in well under a second; a loaded 2-core machine gets ample room.
STARTUP_TIMEOUT_S: Final = 30.0
#: A refused client gives up after this long: its handshake fails within milliseconds.
REFUSED_TIMEOUT_S: Final = 3.0
#: Longest a worker takes from start to its output on a loaded machine (group join included).
WORKER_OUTPUT_S: Final = 120.0


@dataclass(frozen=True)
class TlsBroker:
    """A Tansu broker reachable only through stunnel's TLS port, and the PKI it trusts."""

    bootstrap: str
    pki: Pki

    def settings(self) -> dict[str, str]:
        """The Kafka block of leakguard's settings with the CA and the client certificate
        (``make_topics``' ``kafka``)."""
        return {
            "security_protocol": "SSL",
            "ssl_ca_location": str(self.pki.ca),
            "ssl_certificate_location": str(self.pki.client_certificate),
            "ssl_key_location": str(self.pki.client_key),
        }

    def client_config(self) -> dict[str, str]:
        """The librdkafka options these settings give every client."""
        return KafkaSettings.model_validate(self.settings()).client_config()

    def environment(self) -> dict[str, str]:
        """The same as ``LEAKGUARD_KAFKA__*`` variables, for a worker subprocess."""
        return {
            f"LEAKGUARD_KAFKA__{name.upper()}": value for name, value in self.settings().items()
        }


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    """Tansu on a loopback port behind stunnel (TLS, client certificate required); both
    stopped at the end."""
    if STUNNEL is None:
        pytest.skip("stunnel4 is not installed (scripts/install.sh --dev installs it)")
    folder = tmp_path_factory.mktemp("tls-broker")
    pki = make_pki(folder / "pki")
    plain_port, tls_port = free_port(), free_port()
    broker = _child(
        [
            resolve_broker_binary(),
            "broker",
            "--listener-url",
            f"tcp://{LOOPBACK}:{plain_port}",
            "--advertised-listener-url",
            f"tcp://{LOOPBACK}:{tls_port}",
            "--storage-engine",
            "memory://tansu/",
        ],
        folder / "tansu.log",
    )
    stunnel: subprocess.Popen[bytes] | None = None
    try:
        wait_for_metadata(f"{LOOPBACK}:{plain_port}", timeout_s=STARTUP_TIMEOUT_S)
        config = folder / "stunnel.conf"
        config.write_text(
            _stunnel_config(pki, folder, accept=tls_port, connect=plain_port), encoding="utf-8"
        )
        stunnel = _child([STUNNEL, str(config)], folder / "stunnel.out")
        tls = TlsBroker(f"{LOOPBACK}:{tls_port}", pki)
        _wait_for_tls_metadata(tls, stunnel, folder)
        yield tls
    finally:
        for process in (stunnel, broker):
            if process is not None:
                terminate_process(process.pid, reap=process.wait)


def _child(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    """``command`` with its output in ``log``, killed with this process if that dies first."""
    with log.open("wb") as output:  # the child keeps its own descriptor
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )


def _stunnel_config(pki: Pki, folder: Path, *, accept: int, connect: int) -> str:
    """stunnel in server mode: TLS on ``accept``, plain to Tansu on ``connect``; a client must
    present a certificate that chains to the CA (``verify = 2``)."""
    return "\n".join(
        [
            "foreground = yes",
            f"pid = {folder / 'stunnel.pid'}",
            f"output = {folder / 'stunnel.log'}",
            "debug = info",
            "[kafka]",
            f"accept = {LOOPBACK}:{accept}",
            f"connect = {LOOPBACK}:{connect}",
            f"cert = {pki.server_certificate}",
            f"key = {pki.server_key}",
            f"CAfile = {pki.ca}",
            "verify = 2",
            "",
        ]
    )


def _wait_for_tls_metadata(tls: TlsBroker, stunnel: subprocess.Popen[bytes], folder: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    admin = AdminClient({"bootstrap.servers": tls.bootstrap, "log_level": 0, **tls.client_config()})
    while True:
        try:
            admin.list_topics(timeout=1.0)
            return
        except KafkaException:
            if stunnel.poll() is not None or time.monotonic() > deadline:
                log = folder / "stunnel.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else "no log"
                raise RuntimeError(f"no metadata through stunnel: {tail}") from None


def _refusal(bootstrap: str, config: Mapping[str, Any]) -> str:
    """What librdkafka reports for a client of ``config`` that asks for metadata; fails the
    test if the client gets an answer."""
    errors: list[str] = []
    admin = AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "error_cb": lambda e: errors.append(str(e)),
            "log_level": 0,  # the refusals are expected: only the callback reports them
            **config,
        }
    )
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=REFUSED_TIMEOUT_S)
    admin.poll(0)  # serve the error callbacks
    return " | ".join(errors)


def test_a_client_with_the_ca_and_its_certificate_creates_produces_and_reads(
    tls_broker: TlsBroker, unique_name: str
) -> None:
    tls = tls_broker.client_config()
    # Topics through both admin paths: infra's spec (the settings block) and the workers'.
    names = make_topics(
        tls_broker.bootstrap, f"{unique_name}-", only=["alerts"], kafka=tls_broker.settings()
    )
    create_topics(tls_broker.bootstrap, {f"{unique_name}-single": 1}, client_config=tls)
    topics = AdminClient({"bootstrap.servers": tls_broker.bootstrap, **tls}).list_topics(
        timeout=REFUSED_TIMEOUT_S
    )
    assert len(topics.topics[names.alerts].partitions) > 1
    assert len(topics.topics[f"{unique_name}-single"].partitions) == 1
    producer = make_producer(tls_broker.bootstrap, **tls)
    try:
        produce(
            producer, [(f"{unique_name}-single", f"k{i}".encode(), b"v%d" % i) for i in range(5)]
        )
    finally:
        producer.close()
    messages = read_topic(
        tls_broker.bootstrap,
        f"{unique_name}-single",
        until=lambda got: len(got) >= 5,
        timeout_s=30,
        client_config=tls,
    )
    assert [m.value() for m in messages] == [b"v%d" % i for i in range(5)]


def test_clients_without_a_certificate_trust_or_tls_are_refused(
    tls_broker: TlsBroker, tmp_path: Path
) -> None:
    tls = tls_broker.client_config()
    no_certificate = {
        key: value
        for key, value in tls.items()
        if not key.startswith(("ssl.certificate", "ssl.key"))
    }
    assert "certificate required" in _refusal(tls_broker.bootstrap, no_certificate)
    stranger = make_pki(tmp_path / "other", ca_name="another CA")
    untrusting = {**tls, "ssl.ca.location": str(stranger.ca)}
    assert "certificate verify failed" in _refusal(tls_broker.bootstrap, untrusting)
    # A certificate of another CA is not even offered to a server that names its CA.
    foreign = {
        **tls,
        "ssl.certificate.location": str(stranger.client_certificate),
        "ssl.key.location": str(stranger.client_key),
    }
    assert "certificate required" in _refusal(tls_broker.bootstrap, foreign)
    _refusal(tls_broker.bootstrap, {"security.protocol": "PLAINTEXT"})


def _tls_topics(tls_broker: TlsBroker, prefix: str) -> StreamTopics:
    """Every topic of the spec under ``prefix``, created over TLS."""
    return StreamTopics(
        tls_broker.bootstrap,
        prefix,
        make_topics(tls_broker.bootstrap, prefix, kafka=tls_broker.settings()),
    )


def test_a_cloud_worker_joins_over_tls_configured_only_by_the_environment(
    tls_broker: TlsBroker, unique_name: str, tmp_path: Path
) -> None:
    codec = Codec()
    topics = _tls_topics(tls_broker, f"{unique_name}-")
    names: Topics = topics.names
    det = detection(obj("o0", (0, 0, 10, 10)), frame_id="tls-f1")
    store = tmp_path / "fs"
    FrameStore(str(store)).stage(png(16, 16), checkpoint="cp", lane="1", frame_id=det.frame_id)
    log_dir = tmp_path / "worker-logs"
    log_dir.mkdir()
    workers = Workers(topics, log_dir)
    try:
        workers.start("cloud", "--frame-store", str(store), env=tls_broker.environment())
        producer = make_producer(tls_broker.bootstrap, **tls_broker.client_config())
        try:
            produce(
                producer,
                [
                    (names.detections, det.frame_id.encode(), codec.encode(det)),
                    (names.verdicts, det.frame_id.encode(), codec.encode(verdict(det))),
                ],
            )
        finally:
            producer.close()
        messages = read_topic(
            tls_broker.bootstrap,
            names.outcomes,
            until=lambda got: len(got) >= 1,
            timeout_s=WORKER_OUTPUT_S,
            check=workers.check_alive,
            client_config=tls_broker.client_config(),
        )
        outcomes = decoded(messages, Outcome)
        assert [(o.frame_id, o.object_id, o.kind) for o in outcomes] == [("tls-f1", "o0", "tp")], (
            workers.logs()
        )
    finally:
        workers.kill_all()


def test_an_edge_worker_detects_over_tls_configured_only_by_the_environment(
    tls_broker: TlsBroker, unique_name: str, tiny_artifact: Path, tmp_path: Path
) -> None:
    """Frames in, detections out, and the edge's model manager follows a signed decision and
    reports it on ``model.status``: all through TLS."""
    codec = Codec()
    topics = _tls_topics(tls_broker, f"{unique_name}-")
    log_dir = tmp_path / "worker-logs"
    log_dir.mkdir()
    workers = Workers(topics, log_dir)
    frames = [scan_frame(index, png(64, 64, seed=index), lane="1") for index in range(3)]
    key = Ed25519PrivateKey.generate()
    public_key = tmp_path / "registry.pub.pem"
    public_key.write_bytes(public_key_pem(key.public_key()))
    registry = Registry(tmp_path / "registry", signing_key=key)
    registry.register(tiny_artifact, parent=None, state="active")
    registry.register(tiny_artifact, parent="v0001")
    try:
        workers.start(
            "edge",
            "--model",
            str(registry.artifact_dir("v0001")),
            "--frame-store",
            str(tmp_path / "fs"),
            "--trusted-key",
            str(public_key),
            "--model-cache",
            str(tmp_path / "cache"),
            env=tls_broker.environment(),
        )
        producer = make_producer(tls_broker.bootstrap, **tls_broker.client_config())
        try:
            produce(
                producer,
                [(topics.names.frames, b"cp/1", codec.encode(frame)) for frame in frames],
            )
        finally:
            producer.close()
        messages = read_topic(
            tls_broker.bootstrap,
            topics.names.detections,
            until=lambda got: len(got) >= len(frames),
            timeout_s=WORKER_OUTPUT_S,
            check=workers.check_alive,
            client_config=tls_broker.client_config(),
        )
        detections = decoded(messages, Detection)
        assert sorted(d.frame_id for d in detections) == sorted(f.frame_id for f in frames), (
            workers.logs()
        )
        decision = registry.promote("v0002", mode="shadow")
        producer = make_producer(tls_broker.bootstrap, **tls_broker.client_config())
        try:
            produce(producer, [(topics.names.model_updates, b"v0002", codec.encode(decision))])
        finally:
            producer.close()
        statuses = read_topic(
            tls_broker.bootstrap,
            topics.names.model_status,
            until=lambda got: any(s.state == "shadow" for s in decoded(got, ModelStatus)),
            timeout_s=WORKER_OUTPUT_S,
            check=workers.check_alive,
            client_config=tls_broker.client_config(),
        )
        shadow = decoded(statuses, ModelStatus)
        assert ("v0002", "shadow") in {(s.model_version, s.state) for s in shadow}, workers.logs()
    finally:
        workers.kill_all()


@pytest.mark.timeout(900)
def test_the_whole_demo_runs_over_tls(
    tls_broker: TlsBroker, tiny_artifact: Path, tmp_path: Path
) -> None:
    """`leakguard demo` against the TLS cluster: scanners, edge, cloud, guards, consoles with
    the sink, the annotation bridge and the demo's own reader all reach the broker through
    TLS with the client certificate (no plaintext address is ever advertised), and every
    part of the loop shows (demo_kit.assert_every_part_of_the_loop: every lane detected, every
    kind of outcome, alerts, labelled annotation tasks, the analytics store agreeing). This is
    the suite's one whole demo run; tests/infra/test_demo.py runs the embedded broker's."""
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        **tls_broker.environment(),
        "LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS": tls_broker.bootstrap,
        "LEAKGUARD_DATA_DIR": str(data_dir),
        "OMP_NUM_THREADS": "1",
    }
    result = subprocess.run(
        [*DEMO, "--duration", "20", *demo_args(tiny_artifact)],
        capture_output=True,
        text=True,
        timeout=800,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = assert_every_part_of_the_loop(data_dir, output)
    assert "broker" not in summary["pids"]  # the configured cluster, not an embedded one
