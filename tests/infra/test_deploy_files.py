"""The deployment files under ``deploy/`` run real commands with real settings.

A unit or a compose service that names an option the command lost, or a ``LEAKGUARD_``
variable no setting reads, would start and fail (or silently ignore the variable) only on
the production host; these tests catch it here: every command line is parsed by the real
command tree, every variable is checked against the settings model, and every unit's
environment files are loaded as the settings of the process it starts.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import compose_spec
import pytest
import typer
import yaml
from typer.core import TyperGroup

import detector
from infra.cli import app
from infra.settings import describe_settings, load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SYSTEMD = DEPLOY / "systemd"
#: Where the units expect the env files (deploy/systemd/env/ installed there).
ETC = "/etc/leakguard/"
#: The template instance the tests expand ``%i`` to: lane 1, whose env file ships.
INSTANCE = "1"
#: The state directory of the units and the containers (systemd and the image create it).
STATE = "/var/lib/leakguard"
#: The venv's packages on a host (systemd) and in the image: /opt/leakguard is the venv.
SITE_PACKAGES = "/opt/leakguard/lib/python3.11/site-packages/"
#: Every long-running command an operator deploys, each with exactly one unit.
LONG_RUNNING = {
    ("worker", "--role", "edge"),
    ("worker", "--role", "cloud"),
    ("analytics", "sink"),
    ("alerts", "deliver"),
    ("annotate", "sync"),
    ("retrain", "consume"),
    ("console", "serve"),
    ("scanner", "watch"),
    ("scanner", "dicos", "watch"),
    ("scanner", "dicos", "reports"),
    ("dashboards", "annotate"),
}
HARDENING = {
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "Restart": "on-failure",
    "User": "leakguard",
}


@dataclass
class Unit:
    """A systemd unit file as ``{section: {key: [values in order]}}``."""

    path: Path
    sections: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def get(self, section: str, key: str) -> list[str]:
        return self.sections.get(section, {}).get(key, [])

    def environment(self) -> dict[str, str]:
        """The variables of the unit's EnvironmentFiles, read from deploy/systemd/env/."""
        env: dict[str, str] = {}
        for name in self.get("Service", "EnvironmentFile"):
            assert name.startswith(ETC), f"{self.path.name}: {name} is not under {ETC}"
            local = expand_specifiers(name.removeprefix(ETC))
            env.update(read_env_file(SYSTEMD / "env" / local))
        return env

    def exec_start(self) -> list[str]:
        """ExecStart as the process gets it: specifiers and ``${VAR}`` expanded."""
        (line,) = self.get("Service", "ExecStart")
        env = self.environment()
        return [
            re.sub(r"\$\{(\w+)\}", lambda match: env[match.group(1)], word)
            for word in shlex.split(expand_specifiers(line))
        ]


def expand_specifiers(text: str) -> str:
    """The systemd specifiers the units use: the instance and the host name."""
    return text.replace("%i", INSTANCE).replace("%H", "host-1")


def read_unit(path: Path) -> Unit:
    unit = Unit(path)
    section: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = unit.sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    return env


def units() -> list[Unit]:
    return [read_unit(path) for path in sorted(SYSTEMD.glob("*.service"))]


def setting_names() -> set[str]:
    return {name for name, _ in describe_settings(load_settings())}


def parse_command(args: list[str]) -> Any:
    """Parse ``leakguard ARGS`` with the real command tree, running nothing; the context.

    Raises the usage error the shell would show for an unknown command or option, a bad
    value or a missing required option. The groups on the way take no options here, so each
    is entered with none and the words go on to the next.
    """
    ctx = typer.main.get_command(app).make_context("leakguard", [], resilient_parsing=True)
    words = list(args)
    while isinstance(ctx.command, TyperGroup):
        name, sub, words = ctx.command.resolve_command(ctx, words)
        assert sub is not None
        assert name is not None
        probe = sub.make_context(name, [], parent=ctx, resilient_parsing=True)
        is_group = isinstance(probe.command, TyperGroup)
        ctx = probe if is_group else sub.make_context(name, words, parent=ctx)
    return ctx


def on_this_machine(args: list[str], state: Path, folders: list[str]) -> list[str]:
    """``args`` with the state directory moved under ``state``, holding ``folders`` (what
    systemd's StateDirectory= or the image creates), since options check their paths exist."""
    for folder in folders:
        (state / folder).mkdir(parents=True, exist_ok=True)
    return [arg.replace(STATE, str(state)) for arg in args]


def state_directories(unit: Unit) -> list[str]:
    """The folders under /var/lib that systemd creates for ``unit`` before it starts."""
    entries = [expand_specifiers(line) for line in unit.get("Service", "StateDirectory")]
    return [word.removeprefix("leakguard").lstrip("/") for line in entries for word in line.split()]


def image_directories() -> list[str]:
    """The folders under the state directory the Containerfile creates."""
    containerfile = (DEPLOY / "container" / "Containerfile").read_text()
    match = re.search(r"for dir in ([\w\- ]+); do", containerfile)
    assert match is not None, "the Containerfile no longer creates the state folders"
    return match.group(1).split()


def assert_packaged_paths_exist(args: list[str]) -> None:
    """Paths into the installed package (the starter model) name files this install has."""
    installed = Path(detector.__file__).resolve().parents[1]
    for arg in args:
        if arg.startswith(SITE_PACKAGES):
            assert (installed / arg.removeprefix(SITE_PACKAGES)).exists(), arg


def command_key(args: list[str]) -> tuple[str, ...]:
    """``("worker", "--role", "edge")`` or ``("analytics", "sink")``: what a unit runs."""
    return tuple(args[:3]) if args[0] == "worker" or args[1] == "dicos" else tuple(args[:2])


def compose_services() -> Iterator[tuple[str, Mapping[str, Any]]]:
    spec = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    yield from spec["services"].items()


def test_every_long_running_command_has_one_unit() -> None:
    runs = [command_key(unit.exec_start()[1:]) for unit in units()]
    assert sorted(runs) == sorted(LONG_RUNNING)


@pytest.mark.parametrize("unit", units(), ids=lambda unit: unit.path.name)
def test_unit_runs_a_real_command_with_real_options(unit: Unit, tmp_path: Path) -> None:
    binary, *args = unit.exec_start()
    assert binary == "/opt/leakguard/bin/leakguard"
    ctx = parse_command(on_this_machine(args, tmp_path, state_directories(unit)))
    assert_packaged_paths_exist(args)
    assert ctx.info_name == command_key(args)[-1] or args[0] == "worker"


@pytest.mark.parametrize("unit", units(), ids=lambda unit: unit.path.name)
def test_unit_is_hardened_and_restarts(unit: Unit) -> None:
    for key, value in HARDENING.items():
        assert unit.get("Service", key) == [value], f"{unit.path.name}: {key}"
    assert unit.get("Service", "EnvironmentFile")[0] == ETC + "leakguard.env"


@pytest.mark.parametrize("unit", units(), ids=lambda unit: unit.path.name)
def test_unit_environment_is_valid_settings(unit: Unit, monkeypatch: pytest.MonkeyPatch) -> None:
    env = unit.environment()
    unknown = {name for name in env if name.startswith("LEAKGUARD_")} - setting_names()
    assert not unknown, f"{unit.path.name}: no setting reads {sorted(unknown)}"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    if unit.path.name != "leakguard-console.service":  # /healthz on its web port
        assert settings.metrics_port is not None, f"{unit.path.name} serves no /healthz"


def test_units_on_one_host_have_distinct_metrics_ports() -> None:
    ports = [unit.environment().get("LEAKGUARD_METRICS_PORT") for unit in units()]
    served = [port for port in ports if port is not None]
    assert len(served) == len(set(served))


def test_every_variable_of_the_env_files_and_compose_is_a_setting() -> None:
    names = setting_names()
    named: set[str] = set()
    for path in (SYSTEMD / "env").glob("*.env"):
        named |= set(read_env_file(path))
    for _, service in compose_services():
        named |= set(service.get("environment") or {})
    containerfile = (DEPLOY / "container" / "Containerfile").read_text()
    named |= set(re.findall(r"\bLEAKGUARD_[A-Z0-9_]+", containerfile))
    leakguard = {name for name in named if name.startswith("LEAKGUARD_")}
    assert leakguard, "no LEAKGUARD_ variable found: the files moved?"
    assert not leakguard - names, sorted(leakguard - names)


def test_compose_services_run_real_commands(tmp_path: Path) -> None:
    ran = set()
    for name, service in compose_services():
        if not str(service.get("image", "")).startswith("leakguard-"):
            continue
        args = [str(word) for word in service["command"]]
        parse_command(on_this_machine(args, tmp_path, image_directories()))
        assert_packaged_paths_exist(args)
        ran.add(command_key(args))
        env = {key: str(value) for key, value in (service.get("environment") or {}).items()}
        assert "LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS" in env, name
    # Grafana's annotator runs beside Grafana, the DICOS bridge only for a scanner that writes
    # DICOS: this topology has neither.
    elsewhere = {
        ("dashboards", "annotate"),
        ("scanner", "dicos", "watch"),
        ("scanner", "dicos", "reports"),
    }
    set_up = {("topics", "apply"), ("analytics", "migrate")}
    assert ran == (LONG_RUNNING - elsewhere) | set_up


def test_compose_file_follows_the_compose_specification() -> None:
    # The parser takes no YAML merge keys, so it reads the document as compose resolves it.
    resolved = yaml.safe_dump(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))
    compose = compose_spec.PyCompose.from_yaml(resolved)
    assert compose.name == "leakguard"
    with pytest.raises(ValueError, match="restrat"):
        compose_spec.PyCompose.from_yaml(resolved.replace("restart:", "restrat:", 1))


def test_compose_volumes_and_images_are_declared() -> None:
    spec = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    declared = set(spec["volumes"])
    for name, service in spec["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            assert source in declared, f"{name}: volume {source} is not declared"
        for dependency in service.get("depends_on", {}):
            assert dependency in spec["services"], f"{name} depends on {dependency}"


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package has it)")
    leakguard = Path(sys.executable).with_name("leakguard")
    assert leakguard.is_file(), f"no leakguard script beside {sys.executable}"
    names = []
    for unit in units():
        # The binary must exist for verify; here it is this checkout's, not /opt's.
        text = unit.path.read_text().replace("/opt/leakguard/bin/leakguard", str(leakguard))
        (tmp_path / unit.path.name).write_text(text)
        names.append(unit.path.name.replace("@.", f"@{INSTANCE}."))
    result = subprocess.run(
        [analyze, "verify", "--man=no", *names],
        cwd=tmp_path,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # verify exits 0 on an unknown key or a bad value and only warns: both must be empty.
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""
