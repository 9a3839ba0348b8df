"""Run leakguard commands in a child process that sees only some installed distributions
(started by tests/infra/test_extras.py with ``python -S`` and a ``PYTHONPATH`` of the
repository and a folder that links just those distributions' files).

Usage: ``python -S only_installed.py MODULES_JSON COMMANDS_JSON``: every module in
MODULES_JSON is imported and every argument list in COMMANDS_JSON is run through the
``leakguard`` entry point (each a ``--help``, which loads the command's module). Exits 0 when
all of that works, 1 with the failing import or command otherwise.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback


def main() -> int:
    modules, commands = (json.loads(arg) for arg in sys.argv[1:3])
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            traceback.print_exc()
            print(f"FAILED import {module}", file=sys.stderr)
            return 1
    from infra.cli import main as leakguard

    for command in commands:
        sys.argv = ["leakguard", *command]
        try:
            leakguard()
        except SystemExit as exc:
            if exc.code not in (0, None):
                print(f"FAILED leakguard {' '.join(command)}: exit {exc.code}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
