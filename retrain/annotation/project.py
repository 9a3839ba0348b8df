"""``leakguard annotate setup``: the Label Studio project and its webhook, made idempotently.

The project is found by id (``LEAKGUARD_ANNOTATION__PROJECT_ID``) or by title, and created
with leakguard's labelling config when absent; a project whose config has drifted gets the
current one back (Label Studio refuses a config that would orphan existing labels, and the
error says so). The webhook to the bridge is created once and updated in place, never
duplicated, so running ``setup`` again is safe. The hook carries the bridge's shared secret
(:mod:`retrain.annotation.secret`), without which the receiver refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from retrain.annotation.client import LabelStudioClient
from retrain.annotation.exceptions import LabelStudioError
from retrain.annotation.label_config import label_config
from retrain.annotation.receiver import SECRET_HEADER

__all__ = [
    "ProjectSetup",
    "ensure_project",
    "ensure_webhook",
    "find_project",
    "webhook_url",
]

_DESCRIPTION = (
    "X-ray frames the leakguard detector got wrong. Draw every storage medium and look-alike; "
    "guard-rejected detections are pre-labelled 'others'."
)


@dataclass(frozen=True)
class ProjectSetup:
    """The project the bridge works in and what ``setup`` had to do."""

    project_id: int
    title: str
    created: bool
    config_updated: bool


def find_project(
    client: LabelStudioClient, *, title: str, project_id: int | None = None
) -> dict[str, Any] | None:
    """The leakguard project (by ``project_id``, else by ``title``) without changing it."""
    if project_id is not None:
        return client.project(project_id)
    matches = [p for p in client.projects() if p.get("title") == title]
    if len(matches) > 1:
        raise LabelStudioError(
            f"{len(matches)} Label Studio projects are titled {title!r}; set "
            "LEAKGUARD_ANNOTATION__PROJECT_ID to the one to use"
        )
    return matches[0] if matches else None


def ensure_project(
    client: LabelStudioClient, *, title: str, project_id: int | None = None
) -> ProjectSetup:
    """The leakguard project: ``project_id`` if given, else the one titled ``title``,
    created when there is none; its labelling config is made current."""
    config = label_config()
    project = find_project(client, title=title, project_id=project_id)
    if project is None:
        project = client.create_project(title=title, label_config=config, description=_DESCRIPTION)
        return ProjectSetup(int(project["id"]), title, created=True, config_updated=False)
    updated = project.get("label_config") != config
    if updated:
        client.update_project(int(project["id"]), label_config=config)
    return ProjectSetup(int(project["id"]), str(project.get("title")), False, updated)


def webhook_url(bridge_url: str) -> str:
    """The receiver's webhook endpoint under the bridge's public URL."""
    return f"{bridge_url.rstrip('/')}/webhook"


def ensure_webhook(
    client: LabelStudioClient, *, project_id: int, bridge_url: str, secret: str
) -> int:
    """Point the project's webhook at the bridge with ``secret`` (create or update); returns
    its id."""
    url = webhook_url(bridge_url)
    headers = {SECRET_HEADER: secret}
    # Ours: the same URL, or a hook carrying our secret header (the bridge moved host).
    existing = [
        hook
        for hook in client.webhooks(project_id)
        if hook.get("url") == url or SECRET_HEADER in (hook.get("headers") or {})
    ]
    hook_id = int(existing[0]["id"]) if existing else None
    answer = client.put_webhook(project_id=project_id, url=url, headers=headers, webhook_id=hook_id)
    return int(answer["id"])
