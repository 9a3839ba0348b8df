"""Benchmark: the drift cycle's fine-tune again without the new frames, to say which part of
the base-set change the guards' frames caused.

Run by hand, on the work folder of a finished ``bench.drift`` run::

    .venv/bin/python -m bench.drift_control --work runs/drift-080

The drift bench reports mAP@0.5 (storage media) on the base ``cluttered`` set before and
after the cycle; the goal is that it changes by less than a point, i.e. that learning the
new confuser forgets nothing. A parent that has not converged gains on the base set from
any further training on base data, and the cycle's fine-tune replays base data, so the
before/after change mixes two effects. This runs the same job (same parent, steps, batch,
learning rate, seed, hold-outs) on the replayed sets alone and reports three changes:

* cycle (candidate - parent): what the drift bench reports;
* replay alone (control - parent): what the same fine-tune does without any new frame;
* new frames (candidate - control): what training on the guards' frames changed in the base
  task, the figure that says whether the cycle forgot.

The control is also served on the drift run's held-out drifted frames, at its own operating
point as the candidate was: its false alarms on the decorations (it has never seen one)
against the candidate's say how much of the drop the guards' frames bought and how much a
retrained model's calibration alone would have. A rerun reuses a finished control job of the
same spec. Written to ``<work>/control.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.table import Table

from bench.drift import LANE_EVAL
from bench.drift_edge import Tally, drifted_frames, serve_artifact
from retrain.job import SPEC_FILE, JobResult, JobSpec, run_job
from streams.logic.guard_policy import GuardPolicy

__all__ = ["control_spec", "figures", "finished_control", "main", "serve_held_out"]

#: Where the control job works, inside the drift run's work folder.
CONTROL_DIR: Final[str] = "control"
#: The metrics of a job result that the report compares.
_FIGURES: Final[dict[str, str]] = {
    "base mAP@0.5 media": "base_map50",
    "base miss rate (where each alarms)": "base_miss_rate",
    "base false-alarm rate": "base_false_alarm_rate",
    "wrong alarm decisions per frame, recent mistakes": "mistakes_per_frame",
}

#: What the held-out drifted frames show, per model: the tally fields the report lists.
_HELD_OUT: Final[dict[str, str]] = {
    "held-out drifted frames: false alarms on decorations": "decoration_false_alarms",
    "held-out drifted frames: all false alarms": "false_alarms",
    "held-out drifted frames: missed media": "missed",
}

console = Console()


def control_spec(spec: JobSpec, replay: Sequence[str | Path], job_dir: Path) -> JobSpec:
    """``spec`` trained on ``replay`` alone, working in ``job_dir``; every other field (parent,
    steps, seed, hold-outs, thresholds) is the cycle's own, so only the new frames differ."""
    dirs = tuple(str(d) for d in replay)
    if not dirs:
        raise ValueError("the drift run replayed no base data: there is nothing to control")
    missing = [d for d in dirs if d not in spec.train_dirs]
    if missing:
        raise ValueError(f"{missing} are not among the cycle's training sets {spec.train_dirs}")
    return dataclasses.replace(spec, train_dirs=dirs, job_dir=str(job_dir))


def figures(cycle: Mapping[str, float], control: Mapping[str, float]) -> dict[str, Any]:
    """Parent, candidate and control side by side from the two jobs' gate metrics, with the
    three base mAP changes in points (cycle, replay alone, new frames)."""
    table = {
        label: {
            "parent": cycle[f"gate/parent_{key}"],
            "candidate": cycle[f"gate/candidate_{key}"],
            "control": control[f"gate/candidate_{key}"],
        }
        for label, key in _FIGURES.items()
        if f"gate/candidate_{key}" in cycle and f"gate/candidate_{key}" in control
    }
    base = table.get("base mAP@0.5 media")
    changes = (
        {}
        if base is None
        else {
            "cycle_pts": 100 * (base["candidate"] - base["parent"]),
            "replay_alone_pts": 100 * (base["control"] - base["parent"]),
            "new_frames_pts": 100 * (base["candidate"] - base["control"]),
        }
    )
    return {"figures": table, "base_map50_change": changes}


def _table(report: Mapping[str, Any]) -> Table:
    table = Table(title=f"drift control ({report['work']})")
    for column in ("figure", "parent", "candidate (cycle)", "control (replay alone)"):
        table.add_column(column)
    for label, row in report["figures"].items():
        table.add_row(label, *(f"{row[k]:.3f}" for k in ("parent", "candidate", "control")))
    held_out = report["held_out"]
    for label, key in _HELD_OUT.items():
        table.add_row(label, *(str(held_out[k][key]) for k in ("parent", "candidate", "control")))
    changes = report["base_map50_change"]
    if changes:
        table.add_row(
            "base mAP change, pts: cycle / replay alone / new frames",
            "",
            f"{changes['cycle_pts']:+.2f}",
            f"{changes['replay_alone_pts']:+.2f} / {changes['new_frames_pts']:+.2f}",
        )
    return table


def finished_control(control: JobSpec) -> JobResult | None:
    """The result of a control job of exactly this spec that already finished here, so a
    rerun (to serve the held-out frames again, say) does not train again."""
    job_dir = Path(control.job_dir)
    try:
        done = JobSpec.from_dict(json.loads((job_dir / SPEC_FILE).read_text()))
        return JobResult.read(job_dir) if done == control else None
    except (OSError, ValueError, KeyError, TypeError):  # absent, partial or unreadable
        return None


def serve_held_out(drift: Mapping[str, Any], artifact: Path) -> Tally:
    """The drift run's held-out drifted frames served by ``artifact`` at the edges'
    threshold (its own operating point where it has one) and reviewed by the guards, as the
    drift bench serves them to the base model."""
    options = drift["options"]
    frames = drifted_frames(
        LANE_EVAL, options["n_eval"], size=drift["size_px"], seed=options["seed"]
    )
    return serve_artifact(
        artifact,
        frames,
        GuardPolicy(seed=options["seed"]),
        threshold=options["threshold"],
        label="control, held-out frames",
    )


def run(work: Path) -> dict[str, Any]:
    """Run the control job of the drift run in ``work`` (or reuse its finished one) and serve
    the held-out drifted frames with its model; returns the report."""
    drift = json.loads((work / "drift.json").read_text())
    jobs = sorted((work / "retrain" / "jobs").glob(f"*/{SPEC_FILE}"))
    if len(jobs) != 1:
        raise ValueError(f"{work} should hold one retrain job, found {len(jobs)}")
    spec = JobSpec.from_dict(json.loads(jobs[0].read_text()))
    cycle = JobResult.read(jobs[0].parent)
    control = control_spec(spec, drift["options"]["replay"], work / CONTROL_DIR)
    result = finished_control(control)
    if result is None:
        # The trainer resumes from a checkpoint in its job folder: one left by a control of
        # another drift run in this folder must not be taken for this one's.
        shutil.rmtree(control.job_dir, ignore_errors=True)
        Path(control.job_dir).mkdir(parents=True)
        (Path(control.job_dir) / SPEC_FILE).write_text(json.dumps(control.to_dict(), indent=1))
        with console.status(f"fine-tune on the replay alone ({control.steps} steps)"):
            result = run_job(control)
    held_out = serve_held_out(drift, Path(result.artifact_dir))
    return (
        {"work": str(work), "control_job": control.job_dir}
        | figures(cycle.metrics, result.metrics)
        | {
            "held_out": {
                "parent": drift["before"],
                "candidate": drift["after"],
                "control": dataclasses.asdict(held_out),
            }
        }
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Parse options, run the control, print and write the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--work", type=Path, required=True, help="work folder of a finished bench.drift run"
    )
    report = run(parser.parse_args(argv).work)
    console.print(_table(report))
    out = Path(report["work"]) / "control.json"
    out.write_text(json.dumps(report, indent=1))
    console.print(f"figures in {out}")


if __name__ == "__main__":
    main()
