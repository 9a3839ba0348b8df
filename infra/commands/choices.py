"""The fixed choices of command options, as ``Literal`` types so ``--help`` lists them and the
shell completes them.

The simulator's and the detector's registries are plain mappings filled at import; the
commands name their keys here without importing them (the edge's commands must not load
the simulator), and ``tests/infra/test_cli_json.py`` holds each list equal to its registry.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

__all__ = ["DriftName", "FaustLogLevel", "ModelPresetName", "OptimizerName", "ScenePresetName"]

#: ``detector.sim.scenes.PRESETS``.
ScenePresetName: TypeAlias = Literal["alone", "bag", "cluttered", "small-media", "no-media"]
#: ``detector.sim.drift.DRIFTS``.
DriftName: TypeAlias = Literal["phone-decoration"]
#: ``detector.model.presets.PRESETS``.
ModelPresetName: TypeAlias = Literal[
    "edge", "edge-lite1", "edge-lite2", "edge-resnet18", "paper", "tiny"
]
#: ``detector.training.trainer.TrainConfig.optimizer``.
OptimizerName: TypeAlias = Literal["adamw", "sgd"]
#: The levels a Faust worker's ``--loglevel`` accepts.
FaustLogLevel: TypeAlias = Literal["debug", "info", "warning", "error", "critical"]
