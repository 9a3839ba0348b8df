"""Terminal tables and help that fold instead of cutting, so they read at 80 columns (#22).

Rich cuts a word too long for its column with an ellipsis by default. In our tables and help
those words are what an operator copies: a topic name, an environment variable, an option
name (``--staging-retention-…`` cannot be typed). Folding keeps every character, at the
cost of a line break inside the word.

Typer builds its help tables itself and offers no overflow setting, so
:func:`install_folding_help` adapts the two places of ``typer.rich_utils`` that make them
(the tables, and each option's help cells); a test reads every command's help at 80 columns.
"""

from __future__ import annotations

from typing import Any

import typer.rich_utils
from rich.columns import Columns
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

__all__ = ["FoldingTable", "folding_table", "install_folding_help"]


class FoldingTable(Table):
    """A :class:`~rich.table.Table` whose columns, however they were added, fold."""

    def add_column(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("overflow", "fold")
        super().add_column(*args, **kwargs)

    def add_row(self, *renderables: RenderableType | None, **kwargs: Any) -> None:
        super().add_row(*renderables, **kwargs)
        for column in self.columns:  # the columns add_row made for cells beyond the headers
            column.overflow = "fold"


def folding_table(*headers: str, **options: Any) -> Table:
    """A table with ``headers`` whose cells fold; ``options`` are :class:`Table`'s."""
    table = FoldingTable(**options)
    for header in headers:
        table.add_column(header)
    return table


def install_folding_help() -> None:
    """Make Typer's rich help fold: its tables and the text of each option's help cell
    (a grid of its own inside the table, with rich's cutting default)."""
    # Table is typer's import of rich's, not part of its API: hence the ignores.
    if typer.rich_utils.Table is FoldingTable:  # type: ignore[attr-defined]
        return
    make_help = typer.rich_utils._get_parameter_help

    def folding_parameter_help(**kwargs: Any) -> Columns:
        cell = make_help(**kwargs)
        for item in cell.renderables:
            if isinstance(item, Text):
                item.overflow = "fold"
        return cell

    typer.rich_utils.Table = FoldingTable  # type: ignore[attr-defined]
    typer.rich_utils._get_parameter_help = folding_parameter_help
