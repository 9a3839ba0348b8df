"""The ``leakguard`` command as a user runs it, for the tests: a child process of this
interpreter (``python -m infra``), so a test sees exit codes, output and environment
handling exactly as a shell would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Final

#: ``leakguard`` without relying on the entry point script being on PATH.
LEAKGUARD: Final = [sys.executable, "-m", "infra"]


def run_leakguard(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``leakguard *args`` in ``cwd`` with ``env`` added to ours; output captured as text.

    200 columns, so that no line a test reads is wrapped by rich; the exit code is the
    test's to check (never raised on).
    """
    return subprocess.run(
        [*LEAKGUARD, *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
