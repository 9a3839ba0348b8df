"""Hand-run benchmarks (``python -m bench.<name>``); never collected by pytest."""
