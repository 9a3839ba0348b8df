"""``--json`` on the status and list commands: one JSON document on standard output.

Scripts and monitoring read these instead of scraping tables, so the document is written
plainly (no colour, no wrapping, whatever the terminal) and its keys are part of the command's
interface: add keys, never rename or drop them.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

__all__ = ["JsonOption", "echo_json"]

JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON document (stable keys) instead of the table, for scripts.",
    ),
]


def echo_json(document: Any) -> None:
    """Write ``document`` as indented JSON; paths and other objects as their strings."""
    typer.echo(json.dumps(document, indent=2, default=str))
