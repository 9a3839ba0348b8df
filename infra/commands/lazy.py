"""Command groups that are imported only when they run.

``leakguard config show`` should answer in a fraction of a second, but the detector's
commands import torch and torchvision (seconds, more on a busy machine). A
:class:`LazyCommand` stands in for such a command: ``leakguard --help`` lists it with its
one-line help, and the module behind it is imported only when the command itself (or its own
``--help``) is invoked.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from infra.exceptions import InfraError


@dataclass(frozen=True)
class LazyTarget:
    """Where a command lives: a Typer app in ``module`` and, optionally, one of its commands."""

    module: str
    app: str = "app"
    command: str | None = None

    def load(self) -> TyperCommand | TyperGroup:
        """Import the module and return the command Typer builds for it."""
        typer_app = getattr(importlib.import_module(self.module), self.app)
        group = typer.main.get_command(typer_app)
        if self.command is None:
            command = group
        elif isinstance(group, TyperGroup) and self.command in group.commands:
            command = group.commands[self.command]
        else:
            raise InfraError(f"{self.module} has no command {self.command!r}")
        if not isinstance(command, TyperCommand | TyperGroup):
            raise InfraError(f"{self.module}.{self.command} is not a Typer command")
        return command


class LazyCommand(TyperCommand):
    """A placeholder that hands parsing and invocation to the real command on first use."""

    def __init__(self, name: str, *, target: LazyTarget, short_help: str) -> None:
        super().__init__(name, help=short_help, short_help=short_help)
        self._target = target
        self._loaded: TyperCommand | TyperGroup | None = None

    def _real(self) -> TyperCommand | TyperGroup:
        if self._loaded is None:
            self._loaded = self._target.load()
        return self._loaded

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Any = None,
        **extra: Any,
    ) -> Any:
        """Build the real command's context, so the group invokes the real command.

        Typed loosely because Typer vendors its own click, whose context class is private.
        """
        return self._real().make_context(info_name, args, parent=parent, **extra)


@dataclass(frozen=True)
class LazyEntry:
    """One lazily loaded command: where it lives and the line ``--help`` shows for it."""

    target: LazyTarget
    short_help: str


def lazy_group(entries: Mapping[str, LazyEntry]) -> type[TyperGroup]:
    """A Typer group class that also holds ``entries``, each imported only when it runs."""

    class _LazyGroup(TyperGroup):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            for name, entry in entries.items():
                self.add_command(
                    LazyCommand(name, target=entry.target, short_help=entry.short_help)
                )

    return _LazyGroup
