"""The drift control (``bench/drift_control.py``): the control job differs from the cycle's
only in its training sets, and the three base mAP changes add up."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bench.drift_control import control_spec, figures, finished_control
from retrain.job import RESULT_FILE, SPEC_FILE, JobResult, JobSpec

NEW, REPLAY = "/w/retrain/trainsets/sets/t0001/train", "/w/replay-640px-400-s202"


def _spec() -> JobSpec:
    return JobSpec(
        parent_artifact="/w/registry/models/v0001",
        train_dirs=(NEW,) * 6 + (REPLAY,),
        mistakes_dir="/w/retrain/trainsets/sets/t0001/holdout",
        job_dir="/w/retrain/jobs/t0001",
        base_holdout_dir="/w/base-640px-200-s101",
        steps=400,
        seed=3,
        alarm_threshold=0.3,
    )


def test_the_control_trains_on_the_replay_alone_and_keeps_everything_else() -> None:
    control = control_spec(_spec(), [Path(REPLAY)], Path("/w/control"))
    assert control.train_dirs == (REPLAY,)
    assert control.job_dir == "/w/control"
    unchanged = {k: v for k, v in control.to_dict().items() if k not in ("train_dirs", "job_dir")}
    assert unchanged == {
        k: v for k, v in _spec().to_dict().items() if k not in ("train_dirs", "job_dir")
    }


@pytest.mark.parametrize(
    ("replay", "message"),
    [([], "replayed no base data"), (["/elsewhere"], "not among the cycle's training sets")],
)
def test_a_control_without_the_cycles_replay_is_refused(replay: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        control_spec(_spec(), replay, Path("/w/control"))


def test_the_changes_split_the_cycle_into_replay_and_new_frames() -> None:
    cycle = {
        "gate/parent_base_map50": 0.80,
        "gate/candidate_base_map50": 0.815,
        "gate/parent_mistakes_per_frame": 1.38,
        "gate/candidate_mistakes_per_frame": 0.94,
    }
    control = {
        "gate/parent_base_map50": 0.80,
        "gate/candidate_base_map50": 0.82,
        "gate/parent_mistakes_per_frame": 1.38,
        "gate/candidate_mistakes_per_frame": 1.30,
    }
    report = figures(cycle, control)
    changes = report["base_map50_change"]
    assert changes["cycle_pts"] == pytest.approx(1.5)
    assert changes["replay_alone_pts"] == pytest.approx(2.0)
    assert changes["new_frames_pts"] == pytest.approx(-0.5)
    assert changes["cycle_pts"] == pytest.approx(
        changes["replay_alone_pts"] + changes["new_frames_pts"]
    )
    mistakes = report["figures"]["wrong alarm decisions per frame, recent mistakes"]
    assert mistakes == {"parent": 1.38, "candidate": 0.94, "control": 1.30}
    # Figures neither job measured (no base hold-out) are left out, not made up.
    assert "base miss rate (where each alarms)" not in report["figures"]


def test_without_a_base_set_there_is_no_change_to_report() -> None:
    mistakes = {"gate/parent_mistakes_per_frame": 1.0, "gate/candidate_mistakes_per_frame": 0.5}
    assert figures(mistakes, mistakes)["base_map50_change"] == {}


def test_a_finished_control_of_the_same_spec_is_reused_and_no_other(tmp_path: Path) -> None:
    control = control_spec(_spec(), [REPLAY], tmp_path / "control")
    assert finished_control(control) is None  # nothing ran yet
    job_dir = tmp_path / "control"
    job_dir.mkdir()
    (job_dir / SPEC_FILE).write_text(json.dumps(control.to_dict()))
    assert finished_control(control) is None  # started, never finished
    result = JobResult(str(job_dir / "run" / "model"), True, ("ok",), {"gate/x": 1.0})
    (job_dir / RESULT_FILE).write_text(json.dumps(dataclasses.asdict(result)))
    assert finished_control(control) == result
    assert finished_control(dataclasses.replace(control, steps=control.steps + 1)) is None
