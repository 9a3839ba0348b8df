"""Numbers an event may carry: Avro's ``float`` and ``double`` hold NaN and infinities, which
no score, coordinate or latency means, and which break what is built from them (a strict
JSON parser at the control centre refuses ``NaN``; a comparison with NaN is always false,
so a NaN score neither alarms nor stays quiet). A consumer that acts on an event checks it
with :func:`non_finite_field` and refuses it whole.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["non_finite_field"]


def non_finite_field(value: Any, path: str = "") -> str | None:
    """The path (``objects[0].box.x2``) of the first NaN or infinite number in ``value`` (an
    event dataclass, or a decoded record of dicts and lists), or None when every number is
    finite."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path or "value"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        items: Any = ((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
    elif isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, list | tuple):
        return next(
            (p for i, v in enumerate(value) if (p := non_finite_field(v, f"{path}[{i}]"))), None
        )
    else:
        return None
    for name, child in items:
        found = non_finite_field(child, f"{path}.{name}" if path else str(name))
        if found is not None:
            return found
    return None
