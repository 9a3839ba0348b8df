"""The versions an edge rolled back, remembered across restarts.

``model.updates`` is replayed from the beginning at every start, and a version this worker
rolled back by itself is still announced there as shadow, canary or active until an
operator runs ``leakguard models rollback``. Without a memory, a restarted edge would fold
that history and serve the rolled-back model again — the very model its outcomes condemned.
So every rollback is written to a small JSON file next to the artifact cache
(``<cache_dir>/rolled-back.json``: version -> reason and time), read at start, and the
replayed history is folded without those versions.

Refusals (a bad signature, hash or file) are not written: a restart verifies again and
refuses again, and a refusal caused by an unreachable store must not last forever.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from streams.exceptions import StreamsConfigError

__all__ = ["ROLLED_BACK_FILE", "RolledBackVersions"]

#: File name of the memory inside the model cache directory.
ROLLED_BACK_FILE: Final[str] = "rolled-back.json"


class RolledBackVersions:
    """Versions rolled back on this worker; kept in ``path`` (None: in memory only)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._reasons: dict[str, dict[str, str]] = {}
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text())
                self._reasons = {str(v): dict(r) for v, r in data["rolled_back"].items()}
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise StreamsConfigError(
                    f"{path} is not a rolled-back list ({exc}); fix or delete it (a deleted "
                    "list lets this worker retry the models it rolled back)"
                ) from exc

    def __contains__(self, version: object) -> bool:
        return version in self._reasons

    def versions(self) -> frozenset[str]:
        """Every version rolled back here."""
        return frozenset(self._reasons)

    def reason(self, version: str) -> str | None:
        """Why ``version`` was rolled back, or None if it was not."""
        entry = self._reasons.get(version)
        return None if entry is None else entry["reason"]

    def add(self, version: str, reason: str) -> None:
        """Remember ``version`` (written to disk before returning: a crash right after the
        rollback must not forget it)."""
        self._reasons[version] = {
            "reason": reason,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"rolled_back": self._reasons}, indent=1, sort_keys=True))
        os.replace(tmp, self.path)
