"""Help and tables at 80 columns (issue #22): words too long for their column fold onto the
next line, never cut with an ellipsis (an option or topic name cut short cannot be typed)."""

from __future__ import annotations

from collections.abc import Iterator

from click import Context
from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from infra.cli import app
from infra.topic_overrides import effective_spec
from infra.topics import with_internal_topics

WIDTH = 80
ELLIPSIS = "…"


def _command_paths() -> Iterator[list[str]]:
    def walk(command: object, path: list[str]) -> Iterator[list[str]]:
        yield path
        if isinstance(command, TyperGroup):
            context = Context(command, info_name="leakguard")
            for name in command.list_commands(context):
                yield from walk(command.get_command(context, name), [*path, name])

    yield from walk(get_command(app), [])


def _at_80_columns(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": str(WIDTH)}, terminal_width=WIDTH)
    assert result.exit_code == 0, result.output
    return result.output


def test_every_commands_help_folds_at_80_columns() -> None:
    cut = {}
    paths = list(_command_paths())
    for path in paths:
        output = _at_80_columns(*path, "--help")
        lines = [line for line in output.splitlines() if ELLIPSIS in line]
        if lines:
            cut[" ".join(path) or "leakguard"] = lines
    assert len(paths) > 20  # the walk reached the subcommands
    assert cut == {}
    worker = _at_80_columns("worker", "--help")
    assert "LEAKGUARD_KAFKA__BOOT" in worker  # the env var is there, folded, not cut
    assert max(len(line) for line in worker.splitlines()) <= WIDTH


def test_topics_show_folds_every_name_at_80_columns() -> None:
    output = _at_80_columns("topics", "show", "--site", "north")
    rows = [line for line in output.splitlines() if line.startswith("│")]
    first_column = "".join(line.split("│")[1].strip() for line in rows)

    assert ELLIPSIS not in output
    assert max(len(line) for line in output.splitlines()) <= WIDTH
    for name in with_internal_topics(effective_spec(None, None, ["north"])).names:
        assert name in first_column
