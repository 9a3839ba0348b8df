"""Pure logic of the loop: rollout plans, outcome windows and rollback, the gate."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from statistics import NormalDist
from typing import Any

import pytest

from detector.evaluation import AlarmMistakes, alarm_mistakes
from detector.operating_point import OperatingPoint, served_thresholds
from infra.settings import RetrainSettings
from leakguard.classes import alarm_thresholds
from retrain.calibration import choose_operating_point
from retrain.cycle import RetrainConfig
from retrain.exceptions import RetrainConfigError
from retrain.gate import gate
from retrain.job import JobProgress, JobSpec
from schemas.events import (
    LabelMapEntry,
    ModelUpdate,
    RolloutModeName,
    RolloutTarget,
)
from schemas.exceptions import RollbackBoundsError
from schemas.rollback import (
    OutcomeWindows,
    Rates,
    RollbackBounds,
    rate_rise_lower_bound,
    rollback_reason,
    wilson_interval,
)
from streams.rollout.state import RolloutPlan, apply, fold, targets_match
from tests.retrain.retrain_helpers import outcomes


def _update(version: str, mode: RolloutModeName, *targets: RolloutTarget) -> ModelUpdate:
    return ModelUpdate(
        model_version=version,
        artifact_uri="file:///nowhere",
        sha256="0" * 64,
        signature=b"s",
        signing_key_id="k",
        label_map=(LabelMapEntry(class_id=1, class_name="hdd"),),
        rollout_mode=mode,
        targets=targets,
    )


def test_fold_keeps_the_last_active_and_the_trial_after_it() -> None:
    history = [_update("v1", "active"), _update("v2", "shadow"), _update("v2", "active")]
    plan = fold(history, checkpoint="cp")
    assert plan.active is not None
    assert plan.active.model_version == "v2"
    assert plan.trial is None
    plan = apply(plan, _update("v3", "canary"), checkpoint="cp")
    assert plan.trial is not None
    assert plan.trial.model_version == "v3"


def test_fold_skips_versions_refused_or_rolled_back_here() -> None:
    history = [_update("v1", "active"), _update("v2", "active"), _update("v3", "shadow")]
    plan = fold(history, checkpoint="cp", skip={"v2", "v3"})
    assert plan.active is not None
    assert plan.active.model_version == "v1"
    assert plan.trial is None


def test_retrain_config_refuses_a_threshold_outside_0_1(tmp_path: Path) -> None:
    with pytest.raises(RetrainConfigError, match="alarm_threshold"):
        RetrainConfig(workdir=tmp_path, alarm_threshold=0.0)
    spec = JobSpec(parent_artifact="p", train_dirs=("a",), mistakes_dir="m", job_dir="j")
    assert JobSpec.from_dict(dataclasses.replace(spec, alarm_threshold=0.3).to_dict()) == (
        dataclasses.replace(spec, alarm_threshold=0.3)
    )


def test_updates_for_other_checkpoints_leave_the_plan_alone() -> None:
    other = _update("v2", "active", RolloutTarget(checkpoint="elsewhere"))
    assert apply(RolloutPlan(), other, checkpoint="cp") == RolloutPlan()
    assert apply(RolloutPlan(), other, checkpoint=None).active == other


def test_targets_match_checkpoint_and_optional_lane() -> None:
    targets = (RolloutTarget(checkpoint="cp", lane="2"), RolloutTarget(checkpoint="hq"))
    assert targets_match(targets, checkpoint="cp", lane="2")
    assert not targets_match(targets, checkpoint="cp", lane="1")
    assert targets_match(targets, checkpoint="hq", lane="9")
    assert targets_match((), checkpoint="any", lane="1")


def test_windows_count_reviewed_outcomes_only_and_forget_the_oldest() -> None:
    windows = OutcomeWindows(window=4)
    for kind in ("fp", "fp", "unreviewed", "tp", "tp", "fn"):
        windows.add(outcomes("v1", kind, 1)[0])
    rates = windows.rates("v1")
    assert rates.reviewed == 4  # the first fp fell out of the window
    assert rates.false_alarm_rate == pytest.approx(1 / 3)
    assert rates.miss_rate == pytest.approx(1 / 3)
    assert windows.rates("unknown") == Rates()
    assert windows.rates("unknown").miss_rate == 0.0


def test_wilson_interval_matches_scipy() -> None:
    from scipy.stats import binomtest

    z = NormalDist().inv_cdf(0.95)
    for bad, total in ((0, 10), (8, 42), (10, 10), (58, 410)):
        expected = binomtest(bad, total).proportion_ci(0.90, method="wilson")
        low, high = wilson_interval(bad, total, z=z)
        assert (low, high) == pytest.approx((expected.low, expected.high), abs=1e-6)
    assert wilson_interval(0, 0, z=z) == (0.0, 1.0)


def test_rate_rise_bound_reproduces_newcombes_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80, method 10
    # gives the 95 % interval 0.0524 to 0.3339; its lower end is the one-sided 97.5 % bound.
    assert rate_rise_lower_bound(56, 70, 48, 80, confidence=0.975) == pytest.approx(
        0.0524, abs=5e-4
    )
    assert -rate_rise_lower_bound(48, 80, 56, 70, confidence=0.975) == pytest.approx(
        0.3339, abs=5e-4
    )


def test_rollback_needs_enough_outcomes_and_a_rise_beyond_its_bound_with_confidence() -> None:
    bounds = RollbackBounds(window_outcomes=500, min_outcomes=10, max_false_alarm_increase=0.1)
    baseline = Rates(tp=400, fp=100, fn=0)  # false-alarm rate 0.20 on 500 alarms
    assert rollback_reason(Rates(fp=9), baseline, bounds) is None  # too few outcomes
    assert rollback_reason(Rates(tp=7, fp=3), baseline, bounds) is None  # 0.30: within reach
    reason = rollback_reason(Rates(tp=2, fp=8), baseline, bounds)  # 0.80 on ten alarms
    assert reason is not None
    assert reason.startswith("false-alarm rate 0.80 (8 of 10)")
    assert "miss rate" in (rollback_reason(Rates(tp=30, fn=30), baseline, bounds) or "")
    with pytest.raises(RollbackBoundsError):
        RollbackBounds(window_outcomes=5, min_outcomes=10)
    with pytest.raises(RollbackBoundsError):
        RollbackBounds(confidence=1.0)


def test_a_canary_is_not_rolled_back_on_a_rise_its_counts_cannot_tell_from_noise() -> None:
    # Drift bench seed 2 on 0.9.0-cpu: the canary missed 8 of 42 media, the parent about
    # 56 of 408. A point comparison (0.19 > 0.14 + 0.05) rolled it back.
    canary, parent = Rates(tp=34, fp=8, fn=8), Rates(tp=352, fp=90, fn=56)
    assert canary.miss_rate > parent.miss_rate + RollbackBounds().max_miss_increase
    assert rollback_reason(canary, parent, RollbackBounds()) is None
    # The same rates on ten times the outcomes are evidence of a worse model.
    worse = Rates(tp=340, fp=80, fn=160)
    assert "miss rate" in (rollback_reason(worse, parent, RollbackBounds()) or "")
    # A baseline with no reviewed outcome is no evidence against the new model.
    assert rollback_reason(Rates(tp=10, fn=40), Rates(), RollbackBounds()) is None


def _row(image_id: int, category_id: int, bbox: list[float], score: float = 0.9) -> dict[str, Any]:
    return {"image_id": image_id, "category_id": category_id, "bbox": bbox, "score": score}


def test_gate_bounds_base_loss_and_demands_fewer_mistakes() -> None:
    passed = gate(
        parent_base_map50=0.800,
        candidate_base_map50=0.796,
        parent_mistakes=0.5,
        candidate_mistakes=0.1,
    )
    assert passed.passed, passed.reasons
    assert passed.reasons[0].endswith("(-0.4 pts, may lose at most 0.5): ok")
    forgot = gate(
        parent_base_map50=0.800,
        candidate_base_map50=0.790,
        parent_mistakes=0.5,
        candidate_mistakes=0.1,
    )
    assert not forgot.passed
    assert forgot.reasons[0].endswith("(-1.0 pts, may lose at most 0.5): loses too much")
    same = gate(
        parent_base_map50=None,
        candidate_base_map50=None,
        parent_mistakes=0.3,
        candidate_mistakes=0.3,
    )
    assert not same.passed
    assert "not better" in same.reasons[1]


def test_gate_refuses_a_candidate_whose_base_rates_the_edge_would_roll_back() -> None:
    parent = AlarmMistakes(frames=80, false_alarms=10, misses=81, alarms=100, media=100)
    quieter = AlarmMistakes(frames=80, false_alarms=1, misses=91, alarms=10, media=100)
    louder = AlarmMistakes(frames=80, false_alarms=30, misses=80, alarms=120, media=100)
    scores = {
        "parent_base_map50": 0.097,
        "candidate_base_map50": 0.125,
        "parent_mistakes": 1.87,
        "candidate_mistakes": 1.80,
        "parent_base_alarms": parent,
    }
    missed = gate(**scores, candidate_base_alarms=quieter)
    assert not missed.passed
    assert missed.reasons[2].endswith("(may rise by 0.10): misses too many")
    assert missed.metrics["gate/candidate_base_miss_rate"] == pytest.approx(0.91)
    noisy = gate(**scores, candidate_base_alarms=louder)
    assert not noisy.passed
    assert noisy.reasons[2].endswith(": false alarms too many")
    lenient = gate(
        **scores, candidate_base_alarms=quieter, rate_bounds=RollbackBounds(max_miss_increase=0.2)
    )
    assert lenient.passed, lenient.reasons
    assert lenient.reasons[2].endswith(": ok")
    unchecked = gate(**scores)
    assert unchecked.passed
    assert "not checked" in unchecked.reasons[2]


def test_the_retrain_rate_bounds_default_to_the_edges_rollback_bounds() -> None:
    block = RetrainSettings()
    edge = RollbackBounds()
    assert block.max_miss_rate_rise == edge.max_miss_increase
    assert block.max_false_alarm_rate_rise == edge.max_false_alarm_increase


def test_job_progress_reads_back_what_was_written_last(tmp_path: Path) -> None:
    assert JobProgress.read(tmp_path) is None
    JobProgress("training", 3, 40, 0.75).write(tmp_path)
    JobProgress("training", 4, 40, 0.5).write(tmp_path)
    assert JobProgress.read(tmp_path) == JobProgress("training", 4, 40, 0.5)
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]


def test_the_operating_point_is_the_highest_threshold_that_misses_no_more_than_the_parent() -> None:
    truth = {
        "images": [{"id": 0}, {"id": 1}],
        "annotations": [
            {"image_id": 0, "category_id": 3, "bbox": [10, 10, 40, 80]},  # a phone
            {"image_id": 1, "category_id": 4, "bbox": [10, 10, 20, 40]},  # a usb stick
            {"image_id": 1, "category_id": 9, "bbox": [100, 10, 40, 80]},  # a decoration
        ],
    }
    detections = [
        _row(0, 3, [10, 10, 40, 80], score=0.9),
        _row(1, 4, [10, 10, 20, 40], score=0.47),
        _row(1, 3, [100, 10, 40, 80], score=0.42),  # the decoration: a false alarm up to 0.42
    ]
    point = choose_operating_point(truth, detections, edge_threshold=0.3, max_miss_rate=0.0)
    assert point == OperatingPoint(edge_threshold=0.3, alarm_threshold=0.47, miss_rate=0.0)
    at_point = alarm_mistakes(truth, detections, alarm_thresholds(point.alarm_threshold))
    assert (at_point.false_alarms, at_point.misses) == (0, 0)
    # Half the media may be missed: up to the phone's score.
    assert choose_operating_point(
        truth, detections, edge_threshold=0.3, max_miss_rate=0.5
    ).alarm_threshold == pytest.approx(0.9)
    # Missing more than the parent already at the edges' threshold: never below it.
    missed = choose_operating_point(truth, detections[:1], edge_threshold=0.3, max_miss_rate=0.0)
    assert (missed.alarm_threshold, missed.miss_rate) == (0.3, 0.5)
    # No medium to miss: no calibration.
    empty = {"images": [{"id": 0}], "annotations": []}
    assert choose_operating_point(
        empty, detections[:1], edge_threshold=0.3, max_miss_rate=0.0
    ) == OperatingPoint(0.3, 0.3, 0.0)


def test_an_edge_applies_a_models_point_only_where_it_runs_at_the_calibrated_threshold() -> None:
    point = OperatingPoint(edge_threshold=0.3, alarm_threshold=0.47, miss_rate=0.1)
    assert served_thresholds(point, alarm_thresholds(0.3)) == alarm_thresholds(0.47)
    assert served_thresholds(point, alarm_thresholds(0.5)) == alarm_thresholds(0.5)
    per_class = {**alarm_thresholds(0.3), 3: 0.6}
    assert served_thresholds(point, per_class) == per_class
    assert served_thresholds(None, alarm_thresholds(0.3)) == alarm_thresholds(0.3)
