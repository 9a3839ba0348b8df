"""Alert rules as code, provisioned into Grafana's unified alerting beside the dashboards.

Grafana alerting, not Prometheus rule files: the provisioning folder Grafana reads
(``infra/grafana/provisioning/``) loads alert rules from ``alerting/``, one engine then
evaluates rules on both data sources, and the false-alarm rate per checkpoint is known only
to the analytics tables (ClickHouse), which Prometheus cannot query. The rules:

- **Edge silent**: an edge produced no detection for ``edge_silent_min`` minutes, or its
  process is down (its ``up`` is 0): frames are not being screened.
- **Consumer lag growing**: a consumer group's lag on a topic grew by more than
  ``lag_growth_messages`` over ``lag_window_min`` minutes: it is falling behind.
- **Dead letters**: more than ``dead_letters`` messages went to the dead-letter topic in
  ``dead_letter_window_min`` minutes (default 0: the first one alerts).
- **False-alarm rate**: a checkpoint's share of reviewed alarms the guards rejected over
  ``false_alarm_window_min`` minutes is above ``false_alarm_rate``, once at least
  ``false_alarm_min_reviewed`` alarms were reviewed (a few reviews prove nothing).

Every threshold is a field of :class:`AlertThresholds` (``LEAKGUARD_ALERT_RULES__*``), whose
defaults and descriptions are the documented ones; ``leakguard dashboards export`` writes
the rules with the configured values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from sinks.dashboards.datasources import (
    CLICKHOUSE_UID,
    PROMETHEUS_UID,
    SQL_FORMAT_TABLE,
    scrape_job,
)
from sinks.dashboards.yaml_text import block_yaml

__all__ = [
    "EVALUATION_INTERVAL",
    "AlertRule",
    "AlertThresholds",
    "RuleQuery",
    "alert_rules",
    "alert_rules_yaml",
]

#: How often Grafana evaluates the group: the scrape interval's order, minutes-scale rules.
EVALUATION_INTERVAL: Final = "1m"
#: How long a condition must hold before it fires: two evaluations, so one late scrape or
#: one slow query never pages anybody.
PENDING: Final = "2m"
#: Grafana's uid of its server-side expressions (reduce, math, threshold).
_EXPRESSIONS_UID: Final = "__expr__"
#: The folder of the provisioned dashboards, so rules and dashboards sit together.
FOLDER: Final = "leakguard"


class AlertThresholds(BaseModel):
    """The alert rules' thresholds (``LEAKGUARD_ALERT_RULES__<FIELD>``); defaults suit a
    site where frames arrive every few seconds during opening hours."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    edge_silent_min: int = Field(
        default=15,
        gt=0,
        description="Minutes without a detection after which an edge counts as silent "
        "(longer than a checkpoint's normal quiet spell).",
    )
    lag_window_min: int = Field(
        default=10, gt=0, description="Minutes over which a consumer group's lag growth counts."
    )
    lag_growth_messages: int = Field(
        default=1000,
        ge=0,
        description="Messages a group's lag on one topic may grow by within the window.",
    )
    dead_letter_window_min: int = Field(
        default=5, gt=0, description="Minutes over which dead letters are counted."
    )
    dead_letters: int = Field(
        default=0,
        ge=0,
        description="Dead letters per topic the window may hold without an alert (0: the "
        "first one alerts).",
    )
    false_alarm_window_min: int = Field(
        default=60, gt=0, description="Minutes of reviewed alarms a checkpoint's rate covers."
    )
    false_alarm_min_reviewed: int = Field(
        default=20,
        gt=0,
        description="Reviewed alarms a checkpoint needs in the window before its rate counts.",
    )
    false_alarm_rate: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of reviewed alarms the guards rejected above which a checkpoint "
        "alerts (0.5: most of its alarms are false).",
    )


@dataclass(frozen=True, kw_only=True)
class RuleQuery:
    """The data query of a rule: PromQL on Prometheus or SQL on ClickHouse (its table
    rows become one alert instance each, labelled by the string columns), over the last
    ``window_s`` seconds."""

    datasource_uid: str
    text: str
    window_s: int

    def model(self) -> dict[str, Any]:
        """The query as the data source plugin's query model."""
        if self.datasource_uid == PROMETHEUS_UID:
            return {"refId": "A", "expr": self.text, "instant": True, "range": False}
        return {
            "refId": "A",
            "editorType": "sql",
            "format": SQL_FORMAT_TABLE,
            "queryType": "table",
            "rawSql": self.text,
        }


@dataclass(frozen=True, kw_only=True)
class AlertRule:
    """One rule: its query, then ``condition`` on the query's last value: ``(">", x)``
    fires above ``x``, ``("==", 0)`` when the value is zero."""

    uid: str
    title: str
    summary: str
    description: str
    query: RuleQuery
    condition: tuple[str, float]
    severity: str
    no_data: str = "OK"


#: The false-alarm rate of each checkpoint with enough reviewed alarms in the window.
_FALSE_ALARM_SQL: Final = """SELECT checkpoint, countIf(kind = 'fp') / count() AS false_alarm_rate
FROM outcomes FINAL
WHERE $__timeFilter(event_time) AND kind IN ('tp', 'fp')
GROUP BY checkpoint
HAVING count() >= {min_reviewed}
ORDER BY checkpoint"""

EDGE_JOB: Final = scrape_job("edge")


def alert_rules(thresholds: AlertThresholds) -> tuple[AlertRule, ...]:
    """Every rule, with ``thresholds`` filled in."""
    t = thresholds
    silent = (
        f"sum by (instance) (increase(leakguard_detections_out_total[{t.edge_silent_min}m]))"
        f' or on (instance) (0 * up{{job="{EDGE_JOB}"}})'
    )
    lag = (
        "sum by (group, topic) (max by (group, topic, partition) "
        f"(delta(leakguard_consumer_lag[{t.lag_window_min}m])))"
    )
    window = f"{t.dead_letter_window_min}m"
    dead = (
        f"sum by (topic) (increase(leakguard_dead_letters_total[{window}]))"
        f" or label_replace(sum(increase(leakguard_sink_dead_letters_total[{window}])),"
        ' "topic", "analytics sink", "", "")'
    )
    return (
        AlertRule(
            uid="leakguard-edge-silent",
            title="Edge silent",
            summary=f"Edge {{{{ $labels.instance }}}}: no detection for {t.edge_silent_min} min",
            description="The edge produced no detection, or Prometheus cannot reach it: frames "
            "at its checkpoint are not being screened. Check the worker's /healthz, its "
            "broker connection and its scanners.",
            query=RuleQuery(
                datasource_uid=PROMETHEUS_UID, text=silent, window_s=t.edge_silent_min * 60
            ),
            condition=("==", 0),
            severity="critical",
            # No series at all: no edge is scraped, which is silence too.
            no_data="Alerting",
        ),
        AlertRule(
            uid="leakguard-consumer-lag-growing",
            title="Consumer lag growing",
            summary="{{ $labels.group }} on {{ $labels.topic }}: lag grew by "
            f"more than {t.lag_growth_messages} messages in {t.lag_window_min} min",
            description="The consumer group falls behind its topic: add workers (up to the "
            "topic's partitions) or find what slows them (Consumer lag and Events in per role "
            "on the operations dashboard).",
            query=RuleQuery(
                datasource_uid=PROMETHEUS_UID, text=lag, window_s=t.lag_window_min * 60
            ),
            condition=(">", t.lag_growth_messages),
            severity="warning",
        ),
        AlertRule(
            uid="leakguard-dead-letters",
            title="Dead letters",
            summary="{{ $labels.topic }}: more than "
            f"{t.dead_letters} dead letters in {t.dead_letter_window_min} min",
            description="Workers could not read or process messages and sent them to the "
            "dead-letter topic; the analytics table dead_letters has each one's reason.",
            query=RuleQuery(
                datasource_uid=PROMETHEUS_UID, text=dead, window_s=t.dead_letter_window_min * 60
            ),
            condition=(">", t.dead_letters),
            severity="warning",
        ),
        AlertRule(
            uid="leakguard-false-alarm-rate",
            title="False-alarm rate above its bound",
            summary=f"Checkpoint {{{{ $labels.checkpoint }}}}: more than {t.false_alarm_rate:g} "
            f"of its reviewed alarms false in {t.false_alarm_window_min} min",
            description="The guards rejected most alarms of this checkpoint: check the model "
            "it runs (Model rollouts on the checkpoints dashboard) and its scanners.",
            query=RuleQuery(
                datasource_uid=CLICKHOUSE_UID,
                text=_FALSE_ALARM_SQL.format(min_reviewed=t.false_alarm_min_reviewed),
                window_s=t.false_alarm_window_min * 60,
            ),
            condition=(">", t.false_alarm_rate),
            severity="warning",
        ),
    )


def _condition(rule: AlertRule) -> dict[str, Any]:
    """Expression C on B, the last value of A: a threshold, or math for "is zero"."""
    operator, value = rule.condition
    if operator == "==":
        return {"refId": "C", "type": "math", "expression": f"$B == {value:g}"}
    return {
        "refId": "C",
        "type": "threshold",
        "expression": "B",
        "conditions": [{"evaluator": {"type": "gt", "params": [value]}}],
    }


def _rule(rule: AlertRule) -> dict[str, Any]:
    expressions = (
        {"refId": "B", "type": "reduce", "expression": "A", "reducer": "last"},
        _condition(rule),
    )
    return {
        "uid": rule.uid,
        "title": rule.title,
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": rule.query.window_s, "to": 0},
                "datasourceUid": rule.query.datasource_uid,
                "model": rule.query.model(),
            },
            *(
                {"refId": e["refId"], "datasourceUid": _EXPRESSIONS_UID, "model": e}
                for e in expressions
            ),
        ],
        "noDataState": rule.no_data,
        "execErrState": "Error",
        "for": PENDING,
        "annotations": {"summary": rule.summary, "description": rule.description},
        "labels": {"severity": rule.severity, "service": "leakguard"},
        "isPaused": False,
    }


def alert_rules_yaml(thresholds: AlertThresholds) -> str:
    """Grafana's alerting provisioning file (``apiVersion: 1``) of every rule."""
    document = {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "leakguard",
                "folder": FOLDER,
                "interval": EVALUATION_INTERVAL,
                "rules": [_rule(rule) for rule in alert_rules(thresholds)],
            }
        ],
    }
    header = (
        "# Generated by `leakguard dashboards export` from sinks/dashboards/alert_rules.py\n"
        "# with the LEAKGUARD_ALERT_RULES__* thresholds; do not edit.\n"
    )
    return header + block_yaml(document)
