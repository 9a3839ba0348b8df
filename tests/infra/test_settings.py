"""Settings: embedded defaults, environment overrides, errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from infra.exceptions import ConfigurationError
from infra.settings import describe_settings, load_settings


def test_defaults_mean_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEAKGUARD_DATA_DIR")
    settings = load_settings()
    assert settings.kafka.embedded
    assert settings.clickhouse.embedded
    assert settings.data_dir == Path(".leakguard")
    assert settings.chdb_path == Path(".leakguard/chdb")


def test_nested_environment_variables_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS", "kafka-1:9092")
    monkeypatch.setenv("LEAKGUARD_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("LEAKGUARD_KAFKA__SASL_PASSWORD", "hunter2")
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == "kafka-1:9092"
    assert not settings.kafka.embedded
    config = settings.kafka.client_config()
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.password"] == "hunter2"


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAKGUARD_LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigurationError, match="LEAKGUARD_LOG_LEVEL") as info:
        load_settings()
    assert "LOUD" in str(info.value)


def test_unknown_nested_field_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="LEAKGUARD_KAFKA__NOT_A_FIELD"):
        load_settings(kafka={"not_a_field": 1})


def test_password_in_clickhouse_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError, match="LEAKGUARD_CLICKHOUSE__PASSWORD") as info:
        load_settings(clickhouse={"url": "clickhouse://app:s3cret@ch:9000/db"})
    assert "s3cret" not in str(info.value)


def test_a_clickhouse_cluster_needs_a_server_and_a_plain_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEAKGUARD_CLICKHOUSE__CLUSTER", "fleet")
    with pytest.raises(
        ConfigurationError, match=r"LEAKGUARD_CLICKHOUSE__CLUSTER.*chdb is one node"
    ):
        load_settings()
    monkeypatch.setenv("LEAKGUARD_CLICKHOUSE__URL", "clickhouse://app@ch-a:9000/db")
    assert load_settings().clickhouse.cluster == "fleet"
    with pytest.raises(ConfigurationError, match="LEAKGUARD_CLICKHOUSE__CLUSTER"):
        load_settings(clickhouse={"cluster": "fleet; DROP"})


def test_describe_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAKGUARD_CLICKHOUSE__PASSWORD", "topsecret")
    monkeypatch.setenv("LEAKGUARD_KAFKA__SASL_PASSWORD", "hunter2")
    rows = dict(describe_settings(load_settings()))
    assert rows["LEAKGUARD_CLICKHOUSE__PASSWORD"] == "**********"
    assert rows["LEAKGUARD_KAFKA__SASL_PASSWORD"] == "**********"
    assert rows["LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS"] == "(unset)"
    assert "topsecret" not in str(rows)
    assert "hunter2" not in str(rows)


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValidationError):
        settings.log_level = "DEBUG"
    assert isinstance(load_settings(kafka={"sasl_password": "x"}).kafka.sasl_password, SecretStr)


def test_sink_batch_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAKGUARD_SINK__MAX_BATCH_ROWS", "500")
    monkeypatch.setenv("LEAKGUARD_SINK__FLUSH_INTERVAL_S", "0.25")
    settings = load_settings()
    assert settings.sink.max_batch_rows == 500
    assert settings.sink.flush_interval_s == 0.25
    monkeypatch.setenv("LEAKGUARD_SINK__MAX_BATCH_ROWS", "0")
    with pytest.raises(ConfigurationError, match="LEAKGUARD_SINK__MAX_BATCH_ROWS"):
        load_settings()


def test_alert_and_grafana_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAKGUARD_ALERTS__ENDPOINT_URL", "https://control.example/alerts")
    monkeypatch.setenv("LEAKGUARD_ALERTS__HMAC_KEY", "k3y")
    monkeypatch.setenv("LEAKGUARD_GRAFANA__API_TOKEN", "glsa_t0ken")
    settings = load_settings()
    assert settings.alerts.hmac_key is not None
    assert settings.alerts.hmac_key.get_secret_value() == "k3y"
    shown = dict(describe_settings(settings))
    assert shown["LEAKGUARD_ALERTS__HMAC_KEY"] == "**********"
    assert shown["LEAKGUARD_GRAFANA__API_TOKEN"] == "**********"
