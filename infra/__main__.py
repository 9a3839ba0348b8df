"""``python -m infra`` runs the ``leakguard`` command line (handy without the console script)."""

from infra.cli import main

main()
