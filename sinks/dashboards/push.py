"""Uploading dashboards and posting annotations through Grafana's HTTP API.

Uses ``grafana-client`` (the maintained successor of ``grafana-api``): dashboards go to
``POST /api/dashboards/db`` with ``overwrite`` so a push is idempotent, annotations to
``POST /api/annotations`` on the leakguard dashboard, tagged so the dashboard's annotation
filters and people can find them. No Grafana server can be installed where leakguard is
developed, so the tests check these calls (method, path, body, auth) against a local HTTP
endpoint that answers as Grafana's API documentation says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sinks.dashboards.grafana import DASHBOARD_UID, dashboards
from sinks.exceptions import SinkError

__all__ = [
    "KEY_TAG_PREFIX",
    "AnnotationRequest",
    "GrafanaPublisher",
    "alert_annotation",
    "rollout_annotation",
]

#: Tag prefix of an annotation's idempotency key (``id:<alert id>``): Grafana finds
#: annotations by tag, so the key is a tag.
KEY_TAG_PREFIX: Final = "id:"


class GrafanaPublisher:
    """Pushes leakguard's dashboards and annotations to one Grafana.

    Pass ``api`` (a ``grafana_client.GrafanaApi``), or ``url`` and ``token`` (a service
    account token) to build one.
    """

    def __init__(
        self, *, api: Any = None, url: str | None = None, token: str | None = None
    ) -> None:
        if api is None:
            if url is None:
                raise SinkError("GrafanaPublisher needs an api client or a Grafana URL")
            from grafana_client.api import GrafanaApi

            api = GrafanaApi.from_url(url, credential=token)
        self._api = api

    def _call(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        from grafana_client.client import GrafanaException

        try:
            return call(*args, **kwargs)
        except GrafanaException as exc:
            raise SinkError(f"Grafana refused {what}: {exc}") from exc
        except OSError as exc:
            raise SinkError(f"Grafana unreachable for {what}: {exc}") from exc

    def push_dashboards(self, *, folder_uid: str | None = None) -> list[dict[str, Any]]:
        """Create or replace every leakguard dashboard; returns Grafana's answers."""
        answers = []
        for board in dashboards():
            payload: dict[str, Any] = {
                "dashboard": {**board, "id": None},
                "overwrite": True,
                "message": "leakguard dashboards push",
            }
            if folder_uid is not None:
                payload["folderUid"] = folder_uid
            update = self._api.dashboard.update_dashboard
            answers.append(self._call(f"dashboard {board['uid']}", update, payload))
        return answers

    def annotate(
        self,
        *,
        at: datetime,
        text: str,
        tags: Sequence[str],
        end: datetime | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        """Post an annotation on the leakguard dashboard (all panels) at ``at`` (aware).

        With ``key`` the call is idempotent: the annotation carries the tag ``id:<key>``, and
        when Grafana already holds one with that tag (``GET /api/annotations``) it is
        returned instead of posting a second. Grafana has no idempotency key of its own, so
        this is how a re-delivered event stays one annotation.
        """
        if at.tzinfo is None or (end is not None and end.tzinfo is None):
            raise SinkError("annotation times must be timezone-aware")
        all_tags = ["leakguard", *tags]
        if key is not None:
            all_tags.append(f"{KEY_TAG_PREFIX}{key}")
            found = self._call(
                "the annotation lookup",
                self._api.annotations.find_annotations,
                dashboard_uid=DASHBOARD_UID,
                ann_type="annotation",
                tags=["leakguard", f"{KEY_TAG_PREFIX}{key}"],
                limit=1,
            )
            if found:
                existing: dict[str, Any] = found[0]
                return existing
        answer: dict[str, Any] = self._call(
            "the annotation",
            self._api.annotations.add_annotation,
            dashboard_uid=DASHBOARD_UID,
            time_from=round(at.timestamp() * 1000),
            time_to=None if end is None else round(end.timestamp() * 1000),
            tags=all_tags,
            text=text,
        )
        return answer

    def post(self, request: AnnotationRequest) -> dict[str, Any]:
        """Post ``request`` (idempotent by its key, when it has one)."""
        return self.annotate(at=request.at, text=request.text, tags=request.tags, key=request.key)

    def annotate_rollout(
        self, *, model_version: str, rollout_mode: str, at: datetime, targets: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Mark a model rollout step, so curve changes line up with their cause."""
        return self.post(
            rollout_annotation(
                model_version=model_version, rollout_mode=rollout_mode, at=at, targets=targets
            )
        )


@dataclass(frozen=True, slots=True)
class AnnotationRequest:
    """One annotation to post: time, text, tags, and an optional idempotency ``key``."""

    at: datetime
    text: str
    tags: tuple[str, ...]
    key: str | None = None


def rollout_annotation(
    *,
    model_version: str,
    rollout_mode: str,
    at: datetime,
    targets: Sequence[str] = (),
    key: str | None = None,
) -> AnnotationRequest:
    """The annotation of a rollout step; ``targets`` are ``checkpoint`` or ``checkpoint/lane``."""
    where = ", ".join(targets) or "every checkpoint"
    return AnnotationRequest(
        at=at,
        text=f"model {model_version} → {rollout_mode} on {where}",
        tags=("rollout", rollout_mode, model_version),
        key=key,
    )


def alert_annotation(
    *,
    alert_id: str,
    checkpoint: str,
    lane: str,
    classes: Sequence[str],
    at: datetime,
    key: str | None = None,
) -> AnnotationRequest:
    """The annotation of an alert sent to the control centre."""
    return AnnotationRequest(
        at=at,
        text=f"alert {alert_id}: {', '.join(classes)} at {checkpoint}/{lane}",
        tags=("alert", checkpoint),
        key=key,
    )
