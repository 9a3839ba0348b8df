"""Numbers an event may carry: Avro's ``float`` and ``double`` hold NaN and infinities, which
no score, coordinate or latency means, and which break what is built from them (a strict
JSON parser at the control centre refuses ``NaN``; a comparison with NaN is always false,
so a NaN score neither alarms nor stays quiet). A consumer that acts on an event checks it
with :func:`non_finite_field` and refuses it whole.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import math
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = ["non_finite_field"]


def non_finite_field(value: Any) -> str | None:
    """The path (``objects[0].box.x2``) of the first NaN or infinite number in ``value`` (an
    event dataclass, or a decoded record of dicts and lists), or None when every number is
    finite."""
    found = _find(value)
    if found is None:
        return None
    return "".join(reversed(found)).lstrip(".") or "value"


def _find(value: Any) -> list[str] | None:
    """The path to the first non-finite number, innermost part first (parts are made only for
    the rare event that has such a number: every event is checked)."""
    if isinstance(value, float):
        return None if math.isfinite(value) else []
    if isinstance(value, _LEAVES):
        return None
    if isinstance(value, list | tuple):
        for index, child in enumerate(value):
            if (found := _find(child)) is not None:
                found.append(f"[{index}]")
                return found
        return None
    if isinstance(value, Mapping):
        pairs: Iterable[tuple[Any, Any]] = value.items()
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        pairs = ((name, getattr(value, name)) for name in _field_names(type(value)))
    else:
        return None
    for name, child in pairs:
        if (found := _find(child)) is not None:
            found.append(f".{name}")
            return found
    return None


#: Values that hold no number to check: most of an event's fields, answered first.
_LEAVES: Final = (str, bytes, int, uuid.UUID, datetime.datetime, type(None))


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))
