# The two commands of the README, plus the pieces they are made of.
.PHONY: demo test install install-dev lint

demo: install  ## run leakguard on the embedded default (broker, topics, analytics store)
	.venv/bin/leakguard stack up

test:  ## install everything (venv + Debian packages) and run lint, types and every test
	scripts/test.sh

install:
	scripts/install.sh

install-dev:
	scripts/install.sh --dev

lint:
	.venv/bin/ruff check leakguard schemas detector streams sinks retrain infra tests bench
	.venv/bin/mypy
