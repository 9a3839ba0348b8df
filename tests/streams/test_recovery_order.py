"""The table-recovery hand-over fetches nothing until Faust has cleared the agents' queues.

The behaviour end to end (a cloud worker killed with -9 still joins every frame) is
``test_restart.py``; these tests pin the two facts it rests on.
"""

from __future__ import annotations

import faust
import pytest
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer

from streams.apps.cloud import build_cloud_app
from streams.apps.recovery import OrderedRecovery, OrderedTableManager
from streams.config import WorkerConfig


def _cloud_app(tmp_path_factory: pytest.TempPathFactory) -> faust.App:
    config = WorkerConfig(
        role="cloud",
        bootstrap_servers="127.0.0.1:9",
        frame_store_url=str(tmp_path_factory.mktemp("frames")),
    )
    return build_cloud_app(config).app


def _recovery(app: faust.App) -> Recovery:
    tables = app.tables
    assert isinstance(tables, OrderedTableManager)
    return tables.recovery


def test_worker_apps_recover_with_the_ordered_recovery(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    assert isinstance(_recovery(_cloud_app(tmp_path_factory)), OrderedRecovery)


async def test_hand_over_runs_with_the_consumer_flow_stopped(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _cloud_app(tmp_path_factory)
    recovery = _recovery(app)
    consumer = app.consumer
    assert isinstance(consumer, Consumer)
    consumer.resume_flow()  # as after reading the changelogs
    flow_during_hand_over: list[bool] = []

    async def faust_hand_over(self: Recovery, generation_id: int = 0) -> None:
        flow_during_hand_over.append(consumer.flow_active)
        consumer.resume_flow()  # Faust's last step, after clearing the queues

    monkeypatch.setattr(Recovery, "on_recovery_completed", faust_hand_over)
    await recovery.on_recovery_completed(generation_id=3)
    assert flow_during_hand_over == [False]
    assert consumer.flow_active
