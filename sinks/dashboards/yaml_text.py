"""Block-style YAML text of plain data, for the provisioning files Grafana reads.

The runtime has no YAML library, and these files need none: every string is written as a
JSON string, which YAML reads as a double-quoted scalar, so no text (a PromQL selector's
quotes, an SQL query's newlines) can change the document's structure. The tests read the
output back with a YAML parser.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["block_yaml"]


def block_yaml(document: Mapping[str, Any]) -> str:
    """``document`` (mappings, lists, strings, numbers, booleans) as YAML text."""
    return "\n".join(_lines(document, 0)) + "\n"


def _lines(value: Mapping[str, Any] | Sequence[Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if _is_scalar(item):
                lines.append(f"{pad}{key}: {json.dumps(item, ensure_ascii=False)}")
            else:
                lines.append(f"{pad}{key}:")
                lines.extend(_lines(item, indent + 2))
        return lines
    for item in value:
        if _is_scalar(item):
            lines.append(f"{pad}- {json.dumps(item, ensure_ascii=False)}")
            continue
        nested = _lines(item, indent + 2)
        lines.append(f"{pad}- {nested[0].lstrip()}")
        lines.extend(nested[1:])
    return lines


def _is_scalar(value: Any) -> bool:
    """Written on its key's line: a string, number, boolean, null, or an empty collection
    (JSON's ``{}`` and ``[]`` are YAML flow collections)."""
    if isinstance(value, str) or not isinstance(value, Mapping | list | tuple):
        return True
    return not value
