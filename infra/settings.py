"""The one settings object of leakguard, read from ``LEAKGUARD_*`` environment variables.

Every default means "embedded": with no Kafka bootstrap servers leakguard starts its own
Kafka-compatible broker, and with no ClickHouse URL it keeps analytics in ``chdb`` under the
data directory. So ``leakguard demo`` runs on a fresh machine with no configuration, and the
same code talks to a production cluster once the variables are set.

Nested blocks use ``__`` as delimiter: ``LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS=broker:9092``.
A ``.env`` file in the working directory is read too. A bad value fails at start-up with a
:class:`~infra.exceptions.ConfigurationError` that names the variable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import to_jsonable_python
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.exceptions import ConfigurationError
from infra.sites import check_site, check_sites
from leakguard.logs import LogFormat
from schemas.authenticity import EventKeyring
from sinks.dashboards.alert_rules import AlertThresholds

ENV_PREFIX: Final = "LEAKGUARD_"
ENV_NESTED_DELIMITER: Final = "__"

#: Fields whose rejected values are never echoed: they may carry a password.
_MAY_HOLD_SECRETS: Final = frozenset(
    {
        "password",
        "sasl_password",
        "ssl_key_password",
        "url",
        "bootstrap_servers",
        "api_token",
        "hmac_key",
    }
)

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
#: The protocols that speak TLS, the only ones a CA or client certificate means anything to.
_TLS_PROTOCOLS: Final = frozenset({"SSL", "SASL_SSL"})
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class _Block(BaseModel):
    """A frozen settings block: values are fixed once a service has started."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Block):
    """Where the event streams live. Security options pass through to every client."""

    bootstrap_servers: str | None = Field(
        default=None,
        description="Kafka bootstrap servers; unset starts the embedded broker.",
    )
    security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", description="Kafka security.protocol."
    )
    sasl_mechanism: str | None = Field(default=None, description="SASL mechanism, e.g. PLAIN.")
    sasl_username: str | None = Field(default=None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password.")
    ssl_ca_location: Path | None = Field(default=None, description="CA bundle for TLS.")
    ssl_certificate_location: Path | None = Field(
        default=None,
        description="Client certificate (PEM, chain allowed) for a broker that requires one; "
        "needs SSL_KEY_LOCATION.",
    )
    ssl_key_location: Path | None = Field(
        default=None,
        validate_default=True,  # a certificate without its key is refused even when unset
        description="Private key (PEM) of the client certificate.",
    )
    ssl_key_password: SecretStr | None = Field(
        default=None, description="Password of an encrypted SSL_KEY_LOCATION."
    )
    client_id_prefix: str = Field(default="leakguard", description="Prefix of client ids.")
    topic_spec: Path | None = Field(
        default=None,
        description="Topic spec file (TOML) `topics apply` provisions and workers size the "
        "join by; unset: the packaged infra/topics.toml.",
    )
    topic_overrides: Path | None = Field(
        default=None,
        description="This environment's overlay over the topic spec: replication, "
        "min.insync.replicas, partitions (e.g. deploy/kafka/production.toml).",
    )

    @field_validator("ssl_ca_location", "ssl_certificate_location")
    @classmethod
    def _tls_files_need_tls(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        """A CA or client certificate under a protocol without TLS would be ignored: the
        clients would connect unprotected while the operator believes otherwise."""
        protocol = info.data.get("security_protocol")
        if path is not None and protocol not in _TLS_PROTOCOLS:
            raise ValueError(f"needs SECURITY_PROTOCOL SSL or SASL_SSL, not {protocol}")
        return path

    @field_validator("ssl_key_location")
    @classmethod
    def _certificate_and_key_together(cls, key: Path | None, info: ValidationInfo) -> Path | None:
        """A certificate without its key (or a key without one) is half a client identity,
        which every client would silently drop."""
        has_certificate = info.data.get("ssl_certificate_location") is not None
        if has_certificate and key is None:
            raise ValueError(
                "required with SSL_CERTIFICATE_LOCATION: the certificate's private key"
            )
        if key is not None and not has_certificate:
            raise ValueError("needs SSL_CERTIFICATE_LOCATION, the certificate of this key")
        return key

    @field_validator("ssl_key_password")
    @classmethod
    def _password_needs_a_key(
        cls, password: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        """A key password with no key to open is a configuration mistake, not a no-op."""
        if password is not None and info.data.get("ssl_key_location") is None:
            raise ValueError("needs SSL_KEY_LOCATION, the key it opens")
        return password

    @property
    def embedded(self) -> bool:
        """Whether leakguard must start (or reuse) its own local broker."""
        return self.bootstrap_servers is None

    def client_config(self) -> dict[str, str]:
        """The security part of a librdkafka configuration, secrets revealed.

        Only for handing to a client; never log the result.
        """
        config: dict[str, str] = {"security.protocol": self.security_protocol}
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            config["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            config["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_ca_location is not None:
            config["ssl.ca.location"] = str(self.ssl_ca_location)
        if self.ssl_certificate_location is not None:
            config["ssl.certificate.location"] = str(self.ssl_certificate_location)
        if self.ssl_key_location is not None:
            config["ssl.key.location"] = str(self.ssl_key_location)
        if self.ssl_key_password is not None:
            config["ssl.key.password"] = self.ssl_key_password.get_secret_value()
        return config


class ClickHouseSettings(_Block):
    """Where the analytics tables live."""

    url: str | None = Field(
        default=None,
        description="ClickHouse native URL, e.g. clickhouse://user@host:9000/leakguard; "
        "unset uses embedded chdb under the data dir.",
    )
    password: SecretStr | None = Field(default=None, description="ClickHouse password.")
    database: str = Field(default="leakguard", description="Database of the analytics tables.")
    cluster: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="ClickHouse cluster (a remote_servers name) to create the tables on, "
        "replicated and Distributed; the URL is then one of its nodes (alt_hosts=... names "
        "others to fail over to). Unset: one node.",
    )

    @field_validator("cluster")
    @classmethod
    def _cluster_needs_a_server(cls, cluster: str | None, info: ValidationInfo) -> str | None:
        """Embedded chdb is one node; a cluster is only reached through a server's URL."""
        if cluster is not None and info.data.get("url") is None:
            raise ValueError("a cluster needs LEAKGUARD_CLICKHOUSE__URL (chdb is one node)")
        return cluster

    @field_validator("url")
    @classmethod
    def _no_password_in_url(cls, url: str | None) -> str | None:
        """Keep the password out of the URL so that it is never printed or logged."""
        if url is not None and urlsplit(url).password is not None:
            raise ValueError("put the password in LEAKGUARD_CLICKHOUSE__PASSWORD, not the URL")
        return url

    @property
    def embedded(self) -> bool:
        """Whether analytics go to the in-process chdb engine."""
        return self.url is None


class SinkSettings(_Block):
    """How the ClickHouse sink batches: per table, by size and by time."""

    group_id: str = Field(
        default="leakguard-clickhouse-sink", description="Consumer group of the sink workers."
    )
    max_batch_rows: int = Field(
        default=10_000, gt=0, description="Rows per table per insert; bounds the sink's memory."
    )
    flush_interval_s: float = Field(
        default=1.0, gt=0, description="Longest a buffered row waits before it is inserted."
    )
    retry_max_s: float = Field(
        default=10.0, gt=0, description="Longest back-off between inserts while ClickHouse is down."
    )


class GrafanaSettings(_Block):
    """Where dashboards are pushed and annotations posted."""

    url: str | None = Field(
        default=None, description="Grafana base URL, e.g. https://grafana.example:3000."
    )
    api_token: SecretStr | None = Field(
        default=None, description="Grafana service-account token (Bearer)."
    )
    folder_uid: str | None = Field(
        default=None, description="Folder the dashboards go to; unset: the General folder."
    )


class AlertSettings(_Block):
    """Where alerts go: the control centre's HTTPS endpoint and the HMAC key."""

    endpoint_url: str | None = Field(
        default=None, description="Control-centre HTTPS endpoint the alerts are POSTed to."
    )
    hmac_key: SecretStr | None = Field(
        default=None, description="Shared key of the X-Leakguard-Signature HMAC-SHA256."
    )
    group_id: str = Field(
        default="leakguard-alert-delivery", description="Consumer group of the alert worker."
    )

    @property
    def state_file_name(self) -> str:
        """SQLite file (under the data dir) recording every delivery."""
        return "alerts/deliveries.sqlite"


class AnnotationSettings(_Block):
    """The annotation bridge: Label Studio, its project, and auto-label mode."""

    label_studio_url: str | None = Field(
        default=None,
        description="Label Studio base URL, e.g. http://labelstudio:8080; unset: auto-label only.",
    )
    api_token: SecretStr | None = Field(
        default=None, description="Label Studio API token (legacy token, 'Token' scheme)."
    )
    project_title: str = Field(
        default="leakguard X-ray annotation",
        min_length=3,
        description="Title of the Label Studio project leakguard sets up and finds again.",
    )
    project_id: int | None = Field(
        default=None, gt=0, description="Use this existing project instead of one found by title."
    )
    auto_label_checkpoints: tuple[str, ...] = Field(
        default=(),
        description="Checkpoints whose guard corrections become annotations directly "
        '(JSON list; ["*"] for every checkpoint).',
    )
    bridge_url: str | None = Field(
        default=None,
        description="URL at which Label Studio and annotators reach the bridge (webhook, "
        "images); unset: http://<listen_host>:<listen_port>.",
    )
    listen_host: str = Field(default="127.0.0.1", description="Address the bridge listens on.")
    listen_port: int = Field(
        default=8765, ge=0, le=65535, description="Port of the bridge (0: any free port)."
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Shared secret Label Studio sends with every webhook and the key of image "
        "URLs (at least 32 characters); unset: <data dir>/annotation/webhook.secret, created by "
        "`leakguard annotate setup`.",
    )
    poll_interval_s: float = Field(
        default=60.0, gt=0, description="Polling for annotations, the fallback for lost webhooks."
    )
    group_id: str = Field(
        default="leakguard-annotation-bridge", description="Consumer group of the bridge."
    )
    frame_store_url: str = Field(
        default=".leakguard/frames",
        description="Frame store the tasks' images are read from (the cloud worker's "
        "--frame-store); a task naming an image anywhere else is dead-lettered.",
    )

    @property
    def state_file_name(self) -> str:
        """SQLite file (under the data dir) of the tasks created and annotations emitted."""
        return "annotation/bridge.sqlite"


class RetrainSettings(_Block):
    """Continuous learning and the model registry; paths default under the data dir."""

    registry_dir: Path | None = Field(
        default=None, description="Model registry directory; unset: <data dir>/registry."
    )
    signing_key_path: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM) the registry signs with; created when missing; "
        "unset: <data dir>/keys/registry-ed25519.pem.",
    )
    workdir: Path | None = Field(
        default=None,
        description="Training sets and job runs; unset: <data dir>/retrain.",
    )
    frame_store_url: str = Field(
        default=".leakguard/frames", description="Frame store the annotated images are read from."
    )
    group_id: str = Field(
        default="leakguard-retrain", description="Consumer group of the retrain consumer."
    )
    trigger_samples: int = Field(
        default=200, gt=0, description="New annotated frames that start a training job."
    )
    schedule_s: float = Field(
        default=86_400.0, gt=0, description="Seconds after which any new frames start a job."
    )
    base_holdout_dir: Path | None = Field(
        default=None, description="COCO hold-out set the gate compares base mAP@0.5 on."
    )
    replay_dirs: list[Path] = Field(
        default_factory=list, description="Older COCO training sets replayed in every job."
    )
    steps: int = Field(default=300, gt=0, description="Fine-tuning steps of a job.")
    batch_size: int = Field(default=4, gt=0, description="Images per fine-tuning step.")
    lr: float = Field(default=1e-4, gt=0, description="Fine-tuning learning rate (AdamW).")
    device: str = Field(default="cpu", description="Torch device of the training job.")
    max_base_map_loss_pts: float = Field(
        default=0.5, ge=0, description="Gate: most mAP@0.5 points a candidate may lose."
    )
    auto_rollout: Literal["none", "shadow", "canary", "active"] = Field(
        default="shadow", description="Rollout mode a candidate that passes its gate gets."
    )
    alarm_threshold: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Gate: the edges' alarm threshold, at which wrong alarms are counted.",
    )
    max_miss_rate_rise: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Gate: most a candidate's base-set miss rate may exceed its parent's "
        "(the edges' rollback bound).",
    )
    max_false_alarm_rate_rise: float = Field(
        default=0.10,
        ge=0,
        le=1,
        description="Gate: most a candidate's base-set false-alarm rate may exceed its "
        "parent's (the edges' rollback bound).",
    )


class SecuritySettings(_Block):
    """Who may produce what (``LEAKGUARD_SECURITY__*``)."""

    event_keyring: Path | None = Field(
        default=None,
        description="Keyring of producer keys (`leakguard keys add`): edges tag their "
        "detections and guard consoles their verdicts with their checkpoint's key, and the "
        "cloud worker and the consoles refuse events without a valid tag. Unset: events "
        "carry no tags and every producer on the topics is trusted.",
    )

    def keyring(self) -> EventKeyring | None:
        """The producer keyring, loaded and checked (None when unset)."""
        return None if self.event_keyring is None else EventKeyring.load(self.event_keyring)


class LeakguardSettings(BaseSettings):
    """Effective configuration of one leakguard process (frozen after start-up)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        frozen=True,
    )

    data_dir: Path = Field(
        default=Path(".leakguard"),
        description="Where embedded services, frame store, models and state are kept.",
    )
    log_level: LogLevel = Field(default="INFO", description="Log level of every process.")
    log_format: LogFormat = Field(
        default="text",
        description="text (for a terminal) or json (one object per line with the event id, "
        "topic, partition and offset of the event a line is about, for a log pipeline).",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of /metrics, /healthz and /livez of a long-running command "
        "(--metrics-port); unset: not served.",
    )
    site: str | None = Field(
        default=None,
        description="The site (a set of checkpoints with its own edge group and consoles) "
        "whose topics scanners, edges, consoles and DICOS reports use: scanner.frames.SITE, "
        "detections.SITE, guard.verdicts.SITE (--site); unset: the fleet-wide topics.",
    )
    sites: tuple[str, ...] = Field(
        default=(),
        description="Every site of the fleet (JSON list), whose topics the cloud join, the "
        "ClickHouse sink and `topics apply` take besides the fleet-wide ones.",
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    sink: SinkSettings = Field(default_factory=SinkSettings)
    grafana: GrafanaSettings = Field(default_factory=GrafanaSettings)
    alert_rules: AlertThresholds = Field(default_factory=AlertThresholds)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    retrain: RetrainSettings = Field(default_factory=RetrainSettings)
    annotation: AnnotationSettings = Field(default_factory=AnnotationSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)

    @field_validator("site")
    @classmethod
    def _valid_site(cls, site: str | None) -> str | None:
        return None if site is None else _as_value_error(check_site, site)

    @field_validator("sites")
    @classmethod
    def _valid_sites(cls, sites: tuple[str, ...]) -> tuple[str, ...]:
        return _as_value_error(check_sites, sites)

    @property
    def chdb_path(self) -> Path:
        """Directory of the embedded chdb analytics store."""
        return self.data_dir / "chdb"

    @property
    def stack_state_path(self) -> Path:
        """File recording the broker started by ``leakguard stack up``."""
        return self.data_dir / "stack.json"


_Checked = TypeVar("_Checked")


def _as_value_error(check: Callable[[_Checked], _Checked], value: _Checked) -> _Checked:
    """``check(value)``, its ``ConfigurationError`` turned into the ``ValueError`` pydantic
    reports under the variable's name."""
    try:
        return check(value)
    except ConfigurationError as exc:
        raise ValueError(str(exc)) from exc


def env_var_name(location: tuple[str | int, ...]) -> str:
    """The environment variable that sets the field at ``location`` (a pydantic error loc)."""
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(str(part).upper() for part in location)


def load_settings(**overrides: Any) -> LeakguardSettings:
    """Read the settings from the environment, failing with the offending variable named.

    ``overrides`` take precedence over the environment (used by the CLI and tests).
    """
    try:
        return LeakguardSettings(**overrides)
    except ValidationError as exc:
        problems = [
            f"{env_var_name(error['loc'])}: {error['msg']}{_echo_input(error['loc'], error)}"
            for error in exc.errors()
        ]
        raise ConfigurationError("invalid configuration:\n  " + "\n  ".join(problems)) from exc


def _echo_input(location: tuple[str | int, ...], error: Any) -> str:
    """The rejected value for the error message, unless the field may hold a secret."""
    if location and str(location[-1]) in _MAY_HOLD_SECRETS:
        return ""
    return f" (got {error.get('input')!r})"


def describe_settings(settings: LeakguardSettings) -> list[tuple[str, str]]:
    """``(environment variable, effective value)`` pairs with every secret masked."""
    return [
        (name, SECRET_MASK if isinstance(value, SecretStr) else _show(value))
        for name, value in _leaves(settings, ())
    ]


def settings_values(settings: LeakguardSettings) -> dict[str, Any]:
    """Every environment variable to its effective value as JSON (``None`` where unset),
    secrets masked: what ``config show --json`` prints."""
    return {
        name: SECRET_MASK if isinstance(value, SecretStr) else to_jsonable_python(value)
        for name, value in _leaves(settings, ())
    }


def _leaves(model: BaseModel, prefix: tuple[str, ...]) -> Iterator[tuple[str, object]]:
    """``(environment variable, value)`` of every field, nested blocks walked."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _leaves(value, (*prefix, name))
        else:
            yield env_var_name((*prefix, name)), value


#: How a set secret reads in ``config show``: present, never shown.
SECRET_MASK = "**********"


def _show(value: object) -> str:
    """A value as ``config show`` prints it; ``None`` reads as "unset"."""
    return "(unset)" if value is None else str(value)
