"""Progress of a long command: a live bar on a terminal, a plain line now and then in a log.

A bar redraws one line in place, which is what a person at a terminal wants and what a log
file or a CI job must not get (every redraw would be a line of control codes). So a command
wraps the items it works through in :func:`track`, which picks the form from its output.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Final, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["PLAIN_INTERVAL_S", "track"]

#: Seconds between two plain lines: a moving job shows in a log within this, without flooding it.
PLAIN_INTERVAL_S: Final = 10.0

T = TypeVar("T")


def track(
    items: Iterable[T],
    *,
    total: int | None,
    label: str,
    interactive: bool | None = None,
    console: Console | None = None,
    interval_s: float = PLAIN_INTERVAL_S,
    clock: Callable[[], float] = time.monotonic,
    write: Callable[[str], None] = typer.echo,
) -> Iterator[T]:
    """Yield ``items`` and report how many the caller has finished (``total`` if known).

    An item counts as done when the caller asks for the next one, so the count is of work
    finished, not started. ``interactive`` defaults to whether standard output is a terminal:
    then a rich bar on ``console``; otherwise ``write`` gets ``"<label> N/TOTAL (R/s)"`` at
    most every ``interval_s`` seconds of ``clock``.
    """
    if interactive is None:
        interactive = sys.stdout.isatty()
    if interactive:
        yield from _bar(items, total=total, label=label, console=console)
    else:
        yield from _lines(
            items, total=total, label=label, interval_s=interval_s, clock=clock, write=write
        )


def _bar(
    items: Iterable[T], *, total: int | None, label: str, console: Console | None
) -> Iterator[T]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task(label, total=total)
        for item in items:
            yield item
            progress.advance(task)


def _lines(
    items: Iterable[T],
    *,
    total: int | None,
    label: str,
    interval_s: float,
    clock: Callable[[], float],
    write: Callable[[str], None],
) -> Iterator[T]:
    started = last = clock()
    for done, item in enumerate(items, start=1):
        yield item
        now = clock()
        if now - last >= interval_s:
            last = now
            of_total = "" if total is None else f"/{total}"
            write(f"{label} {done}{of_total} ({done / max(now - started, 1e-9):.1f}/s)")
