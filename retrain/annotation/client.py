"""A small client of Label Studio's REST API: the calls the bridge makes, nothing more.

httpx against the documented API (https://api.labelstud.io) rather than the official
``label-studio-sdk``: the SDK pins its own pydantic, httpx and many more, and the bridge
needs a dozen calls. Authentication is the legacy API token (``Authorization: Token ...``),
which does not expire; personal access tokens (JWT) would need a refresh loop.

Every failure is one of two errors: :class:`LabelStudioUnavailableError` when Label Studio
cannot answer right now (connection refused, timeout, 5xx) — the caller backs off and
retries — or :class:`LabelStudioError` when it answered no (bad token, bad request).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import httpx

from retrain.annotation.exceptions import (
    LabelStudioAuthError,
    LabelStudioError,
    LabelStudioUnavailableError,
)

__all__ = ["DEFAULT_TIMEOUT_S", "WEBHOOK_ACTIONS", "LabelStudioClient"]

#: Long enough for an import on a loaded 2-core host, short enough to notice an outage.
DEFAULT_TIMEOUT_S: Final = 30.0
#: Tasks per page when listing: bounds each answer (tasks carry their annotations).
PAGE_SIZE: Final = 100
#: The webhook events that carry a submitted or changed annotation.
WEBHOOK_ACTIONS: Final = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")
#: Longest answer text quoted in an error.
_MAX_DETAIL_CHARS: Final = 300


def _filter(column: str, operator: str, kind: str, value: object) -> str:
    """A Data Manager ``query`` with one filter (the task list's documented filter form)."""
    item = {"filter": f"filter:tasks:{column}", "operator": operator, "type": kind, "value": value}
    return json.dumps({"filters": {"conjunction": "and", "items": [item]}})


class LabelStudioClient:
    """Calls Label Studio at ``url`` with ``token``; ``client`` is built when absent."""

    def __init__(
        self,
        *,
        url: str,
        token: str,
        client: httpx.Client | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if not token:
            raise LabelStudioError("a Label Studio API token is required")
        self.url = url.rstrip("/")
        self._client = client if client is not None else httpx.Client(timeout=timeout_s)
        self._headers = {"Authorization": f"Token {token}"}

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(
                method, f"{self.url}{path}", headers=self._headers, **kwargs
            )
        except httpx.TransportError as exc:
            raise LabelStudioUnavailableError(
                f"Label Studio at {self.url} cannot be reached: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code >= 500:
            raise LabelStudioUnavailableError(
                f"Label Studio answered {response.status_code} to {method} {path}"
            )
        if response.status_code in (401, 403):
            raise LabelStudioAuthError(
                f"Label Studio refused the API token ({response.status_code}); use a legacy "
                "token (Account & Settings) and enable legacy tokens for the organization"
            )
        if response.is_error:
            raise LabelStudioError(
                f"Label Studio refused {method} {path} ({response.status_code}): "
                f"{response.text[:_MAX_DETAIL_CHARS]}"
            )
        return response.json() if response.content else None

    # -- server and projects ------------------------------------------------------------------

    def version(self) -> str:
        """The Label Studio release, e.g. ``1.23.2`` (also a cheap liveness check)."""
        answer = self._call("GET", "/api/version")
        return str(answer.get("release", "unknown"))

    def projects(self) -> list[dict[str, Any]]:
        """Every project the token's user can see."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self._call(
                "GET", "/api/projects/", params={"page": page, "page_size": PAGE_SIZE}
            )
            found.extend(answer["results"])
            if not answer.get("next"):
                return found
            page += 1

    def project(self, project_id: int) -> dict[str, Any]:
        """One project, with its task and annotation counts."""
        answer: dict[str, Any] = self._call("GET", f"/api/projects/{project_id}/")
        return answer

    def create_project(self, *, title: str, label_config: str, description: str) -> dict[str, Any]:
        """A new project with ``label_config``."""
        body = {"title": title, "label_config": label_config, "description": description}
        answer: dict[str, Any] = self._call("POST", "/api/projects/", json=body)
        return answer

    def update_project(self, project_id: int, **fields: Any) -> dict[str, Any]:
        """Change project fields (e.g. ``label_config``)."""
        answer: dict[str, Any] = self._call("PATCH", f"/api/projects/{project_id}/", json=fields)
        return answer

    # -- webhooks ---------------------------------------------------------------------------

    def webhooks(self, project_id: int) -> list[dict[str, Any]]:
        """The webhooks of a project."""
        answer: list[dict[str, Any]] = self._call(
            "GET", "/api/webhooks/", params={"project": project_id}
        )
        return answer

    def put_webhook(
        self,
        *,
        project_id: int,
        url: str,
        headers: Mapping[str, str],
        actions: Sequence[str] = WEBHOOK_ACTIONS,
        webhook_id: int | None = None,
    ) -> dict[str, Any]:
        """Create the webhook, or update ``webhook_id`` to these settings."""
        body = {
            "project": project_id,
            "url": url,
            "send_payload": True,
            "send_for_all_actions": False,
            "headers": dict(headers),
            "actions": list(actions),
            "is_active": True,
        }
        if webhook_id is None:
            answer: dict[str, Any] = self._call("POST", "/api/webhooks/", json=body)
        else:
            answer = self._call("PATCH", f"/api/webhooks/{webhook_id}/", json=body)
        return answer

    # -- tasks --------------------------------------------------------------------------------

    def find_task(self, *, project_id: int, key: str, value: str) -> int | None:
        """The id of the project's task whose ``data[key]`` equals ``value``, if any."""
        answer = self._call(
            "GET",
            "/api/tasks/",
            params={
                "project": project_id,
                "page_size": 1,
                "fields": "all",
                "query": _filter(f"data.{key}", "equal", "String", value),
            },
        )
        tasks = answer.get("tasks", [])
        return int(tasks[0]["id"]) if tasks else None

    def import_task(self, *, project_id: int, task: Mapping[str, Any]) -> int:
        """Create one task (with its predictions); returns its id."""
        answer = self._call(
            "POST",
            f"/api/projects/{project_id}/import",
            params={"return_task_ids": "true"},
            json=[dict(task)],
        )
        ids = answer.get("task_ids") or []
        if len(ids) != 1:
            raise LabelStudioError(f"importing one task returned task ids {ids!r}")
        return int(ids[0])

    def task(self, task_id: int) -> dict[str, Any]:
        """One task with its data, predictions and annotations."""
        answer: dict[str, Any] = self._call("GET", f"/api/tasks/{task_id}/")
        return answer

    def update_task_data(self, task_id: int, changes: Mapping[str, Any]) -> None:
        """Change some keys of a task's ``data``, keeping the others.

        Label Studio replaces ``data`` as a whole on PATCH, so the current data is read first.
        """
        data = dict(self.task(task_id).get("data") or {})
        data.update(changes)
        self._call("PATCH", f"/api/tasks/{task_id}/", json={"data": data})

    def tasks_updated_after(
        self, *, project_id: int, after: str | None
    ) -> Iterator[dict[str, Any]]:
        """The project's annotated tasks changed after ``after`` (Label Studio's ISO time;
        ``None``: all), each with its annotations, oldest change first."""
        query = (
            _filter("total_annotations", "greater", "Number", 0)
            if after is None
            else _filter("updated_at", "greater", "Datetime", after)
        )
        page = 1
        while True:
            answer = self._call(
                "GET",
                "/api/tasks/",
                params={
                    "project": project_id,
                    "page": page,
                    "page_size": PAGE_SIZE,
                    "fields": "all",
                    "query": query,
                },
            )
            tasks = answer.get("tasks", [])
            yield from tasks
            if len(tasks) < PAGE_SIZE:
                return
            page += 1

    def user_email(self, user_id: int) -> str | None:
        """The e-mail of a Label Studio user (the annotator name), if visible."""
        try:
            answer = self._call("GET", f"/api/users/{user_id}/")
        except (LabelStudioUnavailableError, LabelStudioAuthError):
            raise
        except LabelStudioError:  # e.g. 404: the user was deleted; the id still names them
            return None
        email = answer.get("email")
        return str(email) if email else None

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
