"""The workers get the Kafka security settings every other client gets: the librdkafka
block of the settings becomes Faust's ``broker_credentials`` (no broker here takes SASL or
TLS, docs/security.md: the translation and its refusals are what is tested)."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import faust
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from streams.apps.common import build_faust_app, faust_credentials
from streams.config import WorkerConfig
from streams.exceptions import StreamsConfigError


def _ca(tmp_path: Path) -> Path:
    """A self-signed CA certificate in PEM, as a cluster's CA bundle would be."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leakguard test CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "ca.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


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
