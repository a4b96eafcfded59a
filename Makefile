# One entry point for the checks a contributor runs before pushing.
.PHONY: install test check lint types imports fast

install:
	pip install torch==2.13.0 -e ".[all]"

test:
	python -m pytest -q

fast:  ## everything but the real-backend tests
	python -m pytest -q -m "not slow"

lint:
	ruff check engine tui cli tests scripts benchmarks

types:
	mypy  # engine, cli, tui (pyproject [tool.mypy])

imports:
	lint-imports

check: lint types imports test
