# The two commands of the README, plus the pieces they are made of.
.PHONY: demo test install install-dev lint

demo: install  ## run the whole loop locally (broker, workers, simulated checkpoints and guards, consoles); Ctrl-C stops it
	.venv/bin/leakguard demo

test:  ## install everything (venv + Debian packages) and run lint, types and every test
	scripts/test.sh

install:
	scripts/install.sh

install-dev:
	scripts/install.sh --dev

lint:
	.venv/bin/ruff check leakguard schemas detector streams sinks retrain infra tests bench
	.venv/bin/mypy
	.venv/bin/lint-imports
