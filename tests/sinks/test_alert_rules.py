"""The alert rules as provisioned: well-formed, every threshold a documented setting, the
ClickHouse rule right on both engines, the PromQL rules firing in Prometheus's own engine.

No Grafana server installs here (no Debian, PyPI or npm package), so the provisioning file
is checked by parsing it as Grafana would read it (YAML) and against the data sources it
names. Its PromQL runs in ``promtool test rules`` (Debian's ``prometheus`` package), which
evaluates each rule's expression and condition over synthetic series as Prometheus would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.exceptions import ConfigurationError
from infra.settings import load_settings
from schemas.events import Box, Outcome, OutcomeKindName
from sinks.clickhouse.backend import AnalyticsBackend
from sinks.dashboards.alert_rules import AlertThresholds, alert_rules, alert_rules_yaml
from sinks.dashboards.grafana import rendered_files
from sinks.dashboards.macros import expand_macros
from tests.sinks.samples import START
from tests.sinks.seeding import seed_events

_RULES = "provisioning/alerting/leakguard.yaml"
_DOCS = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"
#: A value per threshold that no rule could contain by accident.
_PROBE = AlertThresholds(
    edge_silent_min=17,
    lag_window_min=19,
    lag_growth_messages=2311,
    dead_letter_window_min=23,
    dead_letters=29,
    false_alarm_window_min=31,
    false_alarm_min_reviewed=37,
    false_alarm_rate=0.41,
)
_MINUTES = {v for k, v in _PROBE.model_dump().items() if k.endswith("_min")}


def _rules(thresholds: AlertThresholds | None = None) -> list[dict[str, Any]]:
    text = alert_rules_yaml(thresholds) if thresholds else rendered_files()[_RULES]
    document = yaml.safe_load(text)
    assert document["apiVersion"] == 1
    [group] = document["groups"]
    assert group["interval"] == "1m"
    rules: list[dict[str, Any]] = group["rules"]
    return rules


def test_rules_are_well_formed_and_name_provisioned_data_sources() -> None:
    files = rendered_files()
    sources = {
        s["uid"]
        for s in yaml.safe_load(files["provisioning/datasources/leakguard.yaml"])["datasources"]
    }
    [provider] = yaml.safe_load(files["provisioning/dashboards/leakguard.yaml"])["providers"]
    [group] = yaml.safe_load(files[_RULES])["groups"]
    assert group["folder"] == provider["folder"]  # rules beside the dashboards
    rules = group["rules"]
    assert [r["title"] for r in rules] == [
        "Edge silent",
        "Consumer lag growing",
        "Dead letters",
        "False-alarm rate above its bound",
    ]
    assert len({r["uid"] for r in rules}) == len(rules)
    for rule in rules:
        queries = {q["refId"]: q for q in rule["data"]}
        assert rule["condition"] in queries
        assert queries["A"]["datasourceUid"] in sources, rule["uid"]
        for ref, query in queries.items():
            assert query["model"]["refId"] == ref
            if query["datasourceUid"] == "__expr__":
                used = query["model"]["expression"].replace("$", "").split()[0]
                assert used in queries, rule["uid"]
                assert used != ref, rule["uid"]
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]
        assert rule["labels"]["severity"] in {"critical", "warning"}


def _numbers(rule: dict[str, Any]) -> tuple[set[float], set[int], set[float]]:
    """A rule's condition values, its time ranges in minutes and the numbers in its query."""
    data = {q["refId"]: q for q in rule["data"]}
    condition = data[rule["condition"]]["model"]
    if condition["type"] == "threshold":
        values = {float(p) for c in condition["conditions"] for p in c["evaluator"]["params"]}
    else:
        values = {float(n) for n in re.findall(r"\d+(?:\.\d+)?", condition["expression"])}
    model = data["A"]["model"]
    query = model.get("expr") or model["rawSql"]
    ranges = {int(n) for n in re.findall(r"\[(\d+)m\]", query)}
    ranges.add(data["A"]["relativeTimeRange"]["from"] // 60)
    literals = {float(n) for n in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", query)}
    return values, ranges, literals - {float(r) for r in ranges}


def test_every_threshold_is_a_setting_with_a_documented_default() -> None:
    """Rendered with a distinct value per setting, every condition value and time range of
    every rule is one of those values (0 only as "none"), and every setting is used."""
    settings = set(_PROBE.model_dump().values())
    rendered = alert_rules_yaml(_PROBE)
    for rule in _rules(_PROBE):
        values, ranges, literals = _numbers(rule)
        assert values <= settings | {0.0}, rule["uid"]
        assert ranges <= _MINUTES, rule["uid"]
        assert literals <= settings | {0.0}, rule["uid"]
    for name, value in _PROBE.model_dump().items():
        assert re.search(rf"(?<![\d.]){value}(?![\d.])", rendered), name
    docs = _DOCS.read_text()
    for name, field in AlertThresholds.model_fields.items():
        assert field.description, name
        variable = f"LEAKGUARD_ALERT_RULES__{name.upper()}"
        assert re.search(rf"`{variable}`[^|]*\|\s*{field.default:g}\s*\|", docs), variable


def test_thresholds_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAKGUARD_ALERT_RULES__FALSE_ALARM_RATE", "0.3")
    assert load_settings().alert_rules.false_alarm_rate == 0.3
    monkeypatch.setenv("LEAKGUARD_ALERT_RULES__EDGE_SILENT_MIN", "0")
    with pytest.raises(ConfigurationError, match="LEAKGUARD_ALERT_RULES__EDGE_SILENT_MIN"):
        load_settings()


def _outcome(checkpoint: str, kind: OutcomeKindName) -> Outcome:
    return Outcome(
        event_time=START + timedelta(minutes=10),
        checkpoint=checkpoint,
        lane="1",
        frame_id=str(uuid.uuid4()),
        outcome_id=uuid.uuid4(),
        model_version="v1",
        object_id="o0",
        kind=kind,
        class_name="phone",
        score=0.9,
        box=Box(x1=1, y1=1, x2=9, y2=9),
        detection_event_id=uuid.uuid4(),
    )


def test_the_false_alarm_rule_reads_each_checkpoint_s_rate(backend: AnalyticsBackend) -> None:
    """Known answer: 'gate' 16 false of 24 reviewed (0.67, above 0.5), 'dock' 3 of 30
    (0.1), 'lab' 5 of 5 but below the 20 reviews a rate needs; missed items are no alarms."""
    counts = {"gate": (16, 8), "dock": (3, 27), "lab": (5, 0)}
    seed_events(
        backend,
        [
            *(_outcome(cp, "fp") for cp, (fp, _) in counts.items() for _ in range(fp)),
            *(_outcome(cp, "tp") for cp, (_, tp) in counts.items() for _ in range(tp)),
            *(_outcome("dock", "fn") for _ in range(40)),
        ],
    )
    thresholds = AlertThresholds()
    [rule] = [r for r in alert_rules(thresholds) if r.query.datasource_uid.endswith("clickhouse")]
    window = timedelta(seconds=rule.query.window_s)
    sql = expand_macros(rule.query.text, start=START, end=START + window)
    rows = {row[0]: row[1] for row in backend.query(sql).rows}
    assert rows == {"dock": pytest.approx(0.1), "gate": pytest.approx(16 / 24)}
    assert {cp for cp, rate in rows.items() if rate > rule.condition[1]} == {"gate"}


#: Series and expected alerts per PromQL rule, evaluated by promtool with the defaults.
_PROMTOOL_CASES: dict[str, tuple[list[dict[str, str]], str, list[dict[str, str]]]] = {
    "leakguard-edge-silent": (
        [
            {"series": 'leakguard_detections_out_total{instance="e1"}', "values": "0+10x30"},
            {"series": 'leakguard_detections_out_total{instance="e2"}', "values": "5x30"},
            {"series": 'up{job="leakguard-edge", instance="e1"}', "values": "1x30"},
            {"series": 'up{job="leakguard-edge", instance="e2"}', "values": "1x30"},
            {"series": 'up{job="leakguard-edge", instance="e3"}', "values": "0x30"},
        ],
        "20m",
        [{"instance": "e2"}, {"instance": "e3", "job": "leakguard-edge"}],
    ),
    "leakguard-consumer-lag-growing": (
        [
            {
                "series": 'leakguard_consumer_lag{group="sink", topic="t", partition="0"}',
                "values": "0+200x30",
            },
            {
                "series": 'leakguard_consumer_lag{group="join", topic="t", partition="0"}',
                "values": "500x30",
            },
        ],
        "20m",
        [{"group": "sink", "topic": "t"}],
    ),
    "leakguard-dead-letters": (
        [
            {"series": 'leakguard_dead_letters_total{topic="detections"}', "values": "0 0 0 1x30"},
            {"series": 'leakguard_dead_letters_total{topic="verdicts"}', "values": "0x30"},
            {"series": "leakguard_sink_dead_letters_total", "values": "0 0 0 0 2x30"},
        ],
        "6m",
        [{"topic": "detections"}, {"topic": "analytics sink"}],
    ),
}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="Debian's prometheus not installed")
def test_the_promql_rules_fire_in_prometheus_s_engine(tmp_path: Path) -> None:
    """Each rule's expression and condition, as a Prometheus alerting rule, fires for
    exactly the silent edge and the down one, the growing group, the topics with dead
    letters."""
    rules, tests = [], []
    for rule in alert_rules(AlertThresholds()):
        if rule.uid not in _PROMTOOL_CASES:
            continue
        operator, value = rule.condition
        rules.append({"alert": rule.uid, "expr": f"({rule.query.text}) {operator} {value:g}"})
        series, at, expected = _PROMTOOL_CASES[rule.uid]
        tests.append(
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {
                        "eval_time": at,
                        "alertname": rule.uid,
                        "exp_alerts": [{"exp_labels": labels} for labels in expected],
                    }
                ],
            }
        )
    assert len(rules) == len(_PROMTOOL_CASES)
    (tmp_path / "rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "leakguard", "rules": rules}]})
    )
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests})
    )
    result = subprocess.run(
        ["promtool", "test", "rules", "tests.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_export_writes_the_configured_thresholds(tmp_path: Path) -> None:
    """``leakguard dashboards export`` as an operator runs it, with two thresholds set."""
    result = subprocess.run(
        [sys.executable, "-m", "infra", "dashboards", "export", "--dir", str(tmp_path)],
        env={
            **os.environ,
            "LEAKGUARD_ALERT_RULES__EDGE_SILENT_MIN": "30",
            "LEAKGUARD_ALERT_RULES__FALSE_ALARM_RATE": "0.4",
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rules = {
        r["uid"]: r for r in yaml.safe_load((tmp_path / _RULES).read_text())["groups"][0]["rules"]
    }
    silent = rules["leakguard-edge-silent"]["data"][0]
    assert "[30m]" in silent["model"]["expr"]
    assert silent["relativeTimeRange"]["from"] == 30 * 60
    threshold = rules["leakguard-false-alarm-rate"]["data"][2]["model"]["conditions"][0]
    assert threshold["evaluator"]["params"] == [0.4]
    assert (tmp_path / "dashboards" / "leakguard-operations.json").exists()
