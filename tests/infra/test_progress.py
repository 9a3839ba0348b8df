"""Long commands show a bar on a terminal and a plain line now and then in a log."""

from __future__ import annotations

import io
import itertools

from rich.console import Console

from infra.progress import track


def test_plain_lines_come_at_most_every_interval_and_count_finished_items() -> None:
    ticks = itertools.count(step=4.0)  # each item takes 4 s of the clock
    lines: list[str] = []
    taken = []
    for item in track(
        range(7),
        total=7,
        label="published",
        interactive=False,
        interval_s=10.0,
        clock=lambda: next(ticks),
        write=lines.append,
    ):
        taken.append(item)
    assert taken == list(range(7))
    assert lines == ["published 3/7 (0.2/s)", "published 6/7 (0.2/s)"]


def test_plain_lines_without_a_total_count_on() -> None:
    ticks = itertools.count(step=20.0)
    lines: list[str] = []
    for _ in track(
        "abc",
        total=None,
        label="done",
        interactive=False,
        clock=lambda: next(ticks),
        write=lines.append,
    ):
        pass
    assert lines == ["done 1 (0.1/s)", "done 2 (0.1/s)", "done 3 (0.1/s)"]


def test_a_terminal_gets_a_bar_that_ends_full() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=80)
    items = track(range(5), total=5, label="published", interactive=True, console=console)
    assert list(items) == [0, 1, 2, 3, 4]
    assert "published" in screen.getvalue()
    assert "5/5" in screen.getvalue()
