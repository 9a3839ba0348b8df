"""The table-recovery hand-over fetches nothing until Faust has cleared the agents' queues.

The behaviour end to end (a cloud worker killed with -9 still joins every frame) is
``test_restart.py``; these tests pin the two facts it rests on.
"""

from __future__ import annotations

import pytest
from faust.tables.recovery import Recovery

from streams.apps.cloud import build_cloud_app
from streams.apps.recovery import OrderedRecovery
from streams.config import WorkerConfig


def _cloud_app(tmp_path_factory: pytest.TempPathFactory) -> object:
    config = WorkerConfig(
        role="cloud",
        bootstrap_servers="127.0.0.1:9",
        frame_store_url=str(tmp_path_factory.mktemp("frames")),
    )
    return build_cloud_app(config).app


def test_worker_apps_recover_with_the_ordered_recovery(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    app = _cloud_app(tmp_path_factory)
    assert isinstance(app.tables.recovery, OrderedRecovery)  # type: ignore[attr-defined]


async def test_hand_over_runs_with_the_consumer_flow_stopped(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _cloud_app(tmp_path_factory)
    recovery = app.tables.recovery  # type: ignore[attr-defined]
    consumer = app.consumer  # type: ignore[attr-defined]
    consumer.resume_flow()  # as after reading the changelogs
    flow_during_hand_over: list[bool] = []

    async def faust_hand_over(self: Recovery, generation_id: int = 0) -> None:
        flow_during_hand_over.append(self.app.consumer.flow_active)
        self.app.consumer.resume_flow()  # Faust's last step, after clearing the queues

    monkeypatch.setattr(Recovery, "on_recovery_completed", faust_hand_over)
    await recovery.on_recovery_completed(generation_id=3)
    assert flow_during_hand_over == [False]
    assert consumer.flow_active
