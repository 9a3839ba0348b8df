"""The workers get the Kafka security settings every other client gets: the librdkafka
block of the settings becomes Faust's ``broker_credentials``. Here the translation and its
refusals, and a TLS handshake with the translated context; the same settings against a real
TLS broker are in test_kafka_tls.py."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import faust
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from infra.exceptions import ConfigurationError
from infra.settings import load_settings
from streams.apps.common import build_faust_app, faust_credentials
from streams.config import WorkerConfig
from streams.exceptions import StreamsConfigError
from tests.kafka_kit import Pki, make_pki

#: Longest the in-process TLS handshake may take.
HANDSHAKE_TIMEOUT_S = 10.0


def _ca(tmp_path: Path) -> Path:
    """A throw-away CA certificate in PEM, as a cluster's CA bundle would be."""
    return make_pki(tmp_path / "pki").ca


def test_sasl_over_tls_gives_sasl_credentials_with_the_cluster_ca(tmp_path: Path) -> None:
    ca = _ca(tmp_path)
    credentials = faust_credentials(
        {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": "edge-hq",
            "sasl.password": "s3cret",
            "ssl.ca.location": str(ca),
        }
    )["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("edge-hq", "s3cret")
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_SSL"
    context = credentials.ssl_context
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "leakguard test CA"),),)
    ]


def test_plaintext_needs_nothing_and_tls_alone_gives_ssl_credentials(tmp_path: Path) -> None:
    assert faust_credentials({}) == {}
    assert faust_credentials({"security.protocol": "PLAINTEXT"}) == {}
    tls = faust_credentials({"security.protocol": "SSL", "ssl.ca.location": str(_ca(tmp_path))})
    assert isinstance(tls["broker_credentials"], faust.SSLCredentials)


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "GSSAPI"}, "not supported"),
        ({"security.protocol": "KERBEROS"}, "unknown Kafka security.protocol"),
    ],
)
def test_what_faust_cannot_speak_is_refused_not_downgraded(
    config: dict[str, str], reason: str
) -> None:
    with pytest.raises(StreamsConfigError, match=reason):
        faust_credentials(config)


def test_a_worker_s_faust_app_carries_the_settings_credentials() -> None:
    config = WorkerConfig(
        role="cloud",
        bootstrap_servers="127.0.0.1:9",
        client_config={
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "cloud",
            "sasl.password": "pw",
        },
    )
    app = build_faust_app(config)
    credentials = app.conf.broker_credentials
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.mechanism.value) == ("cloud", "PLAIN")


def _tls_config(pki: Pki, **extra: str) -> dict[str, str]:
    return {
        "security.protocol": "SSL",
        "ssl.ca.location": str(pki.ca),
        "ssl.certificate.location": str(pki.client_certificate),
        "ssl.key.location": str(pki.client_key),
        **extra,
    }


def _handshake(pki: Pki, client: ssl.SSLContext) -> str:
    """Connect ``client`` to a loopback TLS server that requires a certificate signed by
    ``pki``'s CA; returns the common name of the certificate the client presented."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pki.server_certificate, pki.server_key)
    server.load_verify_locations(pki.ca)
    server.verify_mode = ssl.CERT_REQUIRED
    peer: list[str] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(HANDSHAKE_TIMEOUT_S)

        def serve() -> None:
            connection, _ = listener.accept()
            with server.wrap_socket(connection, server_side=True) as tls:
                presented = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True) or b"")
                names = presented.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
                peer.append(str(names[0].value))

        thread = threading.Thread(target=serve)
        thread.start()
        with (
            socket.create_connection(listener.getsockname(), timeout=HANDSHAKE_TIMEOUT_S) as raw,
            client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.recv(1)  # the server closes once it has checked us: TLS 1.3 sends that late
        thread.join(HANDSHAKE_TIMEOUT_S)
    return peer[0]


def test_the_settings_client_certificate_reaches_librdkafka_and_faust(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pki = make_pki(tmp_path / "pki", client_key_password=b"key pw")
    monkeypatch.setenv("LEAKGUARD_KAFKA__SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("LEAKGUARD_KAFKA__SSL_CA_LOCATION", str(pki.ca))
    monkeypatch.setenv("LEAKGUARD_KAFKA__SSL_CERTIFICATE_LOCATION", str(pki.client_certificate))
    monkeypatch.setenv("LEAKGUARD_KAFKA__SSL_KEY_LOCATION", str(pki.client_key))
    monkeypatch.setenv("LEAKGUARD_KAFKA__SSL_KEY_PASSWORD", "key pw")
    client_config = load_settings().kafka.client_config()
    assert client_config == _tls_config(pki, **{"ssl.key.password": "key pw"})
    app = build_faust_app(
        WorkerConfig(role="cloud", bootstrap_servers="127.0.0.1:9", client_config=client_config)
    )
    credentials = app.conf.broker_credentials
    assert isinstance(credentials, faust.SSLCredentials)
    assert credentials.context.verify_mode == ssl.CERT_REQUIRED
    assert credentials.context.check_hostname
    assert _handshake(pki, credentials.context) == "leakguard test client"


@pytest.mark.parametrize(
    ("variables", "refused"),
    [
        ({"SSL_CERTIFICATE_LOCATION": "c.pem"}, "LEAKGUARD_KAFKA__SSL_KEY_LOCATION"),
        ({"SSL_KEY_LOCATION": "k.pem"}, "LEAKGUARD_KAFKA__SSL_KEY_LOCATION"),
        ({"SSL_KEY_PASSWORD": "hunter2"}, "LEAKGUARD_KAFKA__SSL_KEY_PASSWORD"),
        ({"SECURITY_PROTOCOL": "PLAINTEXT", "SSL_CA_LOCATION": "ca.pem"}, "SSL_CA_LOCATION"),
        (
            {
                "SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "SSL_CERTIFICATE_LOCATION": "c.pem",
                "SSL_KEY_LOCATION": "k.pem",
            },
            "LEAKGUARD_KAFKA__SSL_CERTIFICATE_LOCATION",
        ),
    ],
)
def test_half_a_client_identity_or_tls_files_without_tls_fail_at_start_up(
    variables: dict[str, str], refused: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every client would otherwise drop what was asked for: connect without the client
    certificate, or without TLS at all."""
    monkeypatch.setenv("LEAKGUARD_KAFKA__SECURITY_PROTOCOL", "SSL")
    for name, value in variables.items():
        monkeypatch.setenv(f"LEAKGUARD_KAFKA__{name}", value)
    with pytest.raises(ConfigurationError, match=refused) as refusal:
        load_settings()
    assert "hunter2" not in str(refusal.value)


def test_an_encrypted_key_needs_its_password(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki", client_key_password=b"right")
    with pytest.raises(StreamsConfigError, match="cannot load the Kafka client certificate"):
        faust_credentials(_tls_config(pki, **{"ssl.key.password": "wrong"}))
    credentials = faust_credentials(_tls_config(pki, **{"ssl.key.password": "right"}))
    assert _handshake(pki, credentials["broker_credentials"].context) == "leakguard test client"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ssl.certificate.location": ""}, "go together"),
        ({"ssl.keystore.location": "client.p12"}, "cannot honour ssl.keystore.location"),
        (
            {"enable.ssl.certificate.verification": "false"},
            "cannot honour enable.ssl.certificate.verification",
        ),
        ({"ssl.endpoint.identification.algorithm": "none"}, "cannot honour"),
        ({"security.protocol": "PLAINTEXT"}, "need security.protocol SSL or SASL_SSL"),
        ({"ssl.ca.location": "/nonexistent/ca.pem"}, "cannot load the Kafka CA bundle"),
    ],
)
def test_tls_options_faust_cannot_honour_are_refused_not_dropped(
    tmp_path: Path, change: dict[str, str], reason: str
) -> None:
    """A worker that silently dropped one of these would connect without the client's
    identity or with weaker checks than every other client of the same settings."""
    with pytest.raises(StreamsConfigError, match=reason):
        faust_credentials(_tls_config(make_pki(tmp_path / "pki"), **change))
