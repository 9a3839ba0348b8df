"""Wiring from settings: the Label Studio client, the bridge's secret, the project, and a
running bridge.

The command (``leakguard annotate``) and the demo build their collaborators here, so the bridge,
client and receiver stay free of settings and environment and are tested with real local
services (as ``infra/analytics.py`` does for the sink).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from infra.settings import LeakguardSettings
from retrain.annotation.auto_label import AutoLabelPolicy
from retrain.annotation.bridge import (
    AnnotationBridge,
    LabelStudioTarget,
    check_modes,
)
from retrain.annotation.client import LabelStudioClient
from retrain.annotation.exceptions import BridgeConfigurationError, LabelStudioUnavailableError
from retrain.annotation.image_urls import ImageUrlSigner
from retrain.annotation.project import ensure_project, ensure_webhook
from retrain.annotation.receiver import ReceiverServer, receiver_app
from retrain.annotation.secret import check_secret, create_secret_file, read_secret_file
from retrain.annotation.state import BridgeState
from schemas.consume import worker_config
from schemas.images import ImageReader
from schemas.topics import Topics

__all__ = [
    "RunningBridge",
    "label_studio_client",
    "open_state",
    "running_bridge",
    "webhook_secret",
    "webhook_secret_path",
]

logger = logging.getLogger(__name__)

#: Longest wait between attempts to reach Label Studio at start-up.
STARTUP_RETRY_MAX_S: Final = 30.0
#: The secret ``leakguard annotate setup`` creates, under the data dir.
WEBHOOK_SECRET_FILE: Final = "annotation/webhook.secret"
#: The variable that overrides the secret file.
WEBHOOK_SECRET_VARIABLE: Final = "LEAKGUARD_ANNOTATION__WEBHOOK_SECRET"


def label_studio_client(settings: LeakguardSettings) -> LabelStudioClient:
    """The configured Label Studio client; fails naming the variables when unset."""
    annotation = settings.annotation
    if annotation.label_studio_url is None or annotation.api_token is None:
        raise BridgeConfigurationError(
            "set LEAKGUARD_ANNOTATION__LABEL_STUDIO_URL and LEAKGUARD_ANNOTATION__API_TOKEN"
        )
    return LabelStudioClient(
        url=annotation.label_studio_url, token=annotation.api_token.get_secret_value()
    )


def open_state(settings: LeakguardSettings) -> BridgeState:
    """The bridge's state file under the data dir."""
    return BridgeState(path=settings.data_dir / settings.annotation.state_file_name)


def webhook_secret_path(settings: LeakguardSettings) -> Path:
    """Where ``setup`` keeps the bridge's secret (mode 0600)."""
    return settings.data_dir / WEBHOOK_SECRET_FILE


def webhook_secret(settings: LeakguardSettings, *, create: bool) -> str:
    """The bridge's shared secret: the variable when set, else the file under the data dir.

    Only ``setup`` creates the file (``create``); the bridge refuses to start without one,
    since a receiver without a secret would take annotations from anyone.
    """
    configured = settings.annotation.webhook_secret
    if configured is not None:
        return check_secret(configured.get_secret_value(), source=WEBHOOK_SECRET_VARIABLE)
    path = webhook_secret_path(settings)
    return create_secret_file(path) if create else read_secret_file(path)


@dataclass(frozen=True)
class RunningBridge:
    """A bridge ready to ``run``, and where its receiver listens (``None``: auto-label only)."""

    bridge: AnnotationBridge
    bridge_url: str | None
    project_id: int | None


def _wait_for_project(
    client: LabelStudioClient, settings: LeakguardSettings, *, bridge_url: str, secret: str
) -> tuple[int, str]:
    """Set up the project and webhook, waiting while Label Studio is down; (id, version)."""
    annotation = settings.annotation
    delay_s = 1.0
    while True:
        try:
            version = client.version()
            project = ensure_project(
                client, title=annotation.project_title, project_id=annotation.project_id
            )
            ensure_webhook(
                client, project_id=project.project_id, bridge_url=bridge_url, secret=secret
            )
            return project.project_id, version
        except LabelStudioUnavailableError as exc:
            logger.warning("waiting for Label Studio (retry in %.0f s): %s", delay_s, exc)
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, STARTUP_RETRY_MAX_S)


@contextmanager
def running_bridge(
    settings: LeakguardSettings, *, bootstrap_servers: str, topics: Topics | None = None
) -> Iterator[RunningBridge]:
    """A bridge on the configured topics, with its receiver serving while the block runs."""
    from confluent_kafka import Consumer, Producer

    annotation = settings.annotation
    policy = AutoLabelPolicy.of(annotation.auto_label_checkpoints)
    check_modes(policy, label_studio_configured=annotation.label_studio_url is not None)
    client_config = {"bootstrap.servers": bootstrap_servers, **settings.kafka.client_config()}
    images = ImageReader(roots=(annotation.frame_store_url,))
    with ExitStack() as stack:
        state = open_state(settings)
        stack.callback(state.close)
        target = None
        bridge_url = None
        if annotation.label_studio_url is not None:
            secret = webhook_secret(settings, create=False)
            image_urls = ImageUrlSigner(secret)
            client = label_studio_client(settings)
            stack.callback(client.close)
            receiver = ReceiverServer(
                receiver_app(
                    state=state, webhook_secret=secret, images=images, image_urls=image_urls
                ),
                host=annotation.listen_host,
                port=annotation.listen_port,
            )
            receiver.start()
            stack.callback(receiver.stop)
            bridge_url = annotation.bridge_url or f"http://{receiver.host}:{receiver.port}"
            project_id, version = _wait_for_project(
                client, settings, bridge_url=bridge_url, secret=secret
            )
            target = LabelStudioTarget(
                client=client,
                project_id=project_id,
                bridge_url=bridge_url,
                tool_version=f"label-studio {version}",
                image_urls=image_urls,
            )
        consumer = Consumer(
            worker_config(
                client_config,
                group_id=annotation.group_id,
                client_id=f"{settings.kafka.client_id_prefix}-annotation-bridge",
            )
        )
        bridge = AnnotationBridge(
            consumer=consumer,
            producer=Producer(client_config),
            topics=topics or Topics(),
            state=state,
            policy=policy,
            label_studio=target,
            images=images,
            poll_interval_s=annotation.poll_interval_s,
            keyring=settings.security.keyring(),
        )
        yield RunningBridge(bridge, bridge_url, target.project_id if target else None)
