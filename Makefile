# The two commands a new user needs: `make demo` and `make test`. Both create .venv and install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DAGSTER_DISABLE_TELEMETRY := 1

.PHONY: install demo test test-fast test-at test-embedded bench lint ui clean stop

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/payroll demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not browser and not daemon and not scale" $(PYTEST_ARGS)

# The suite with the wall clock set to DATE (libfaketime: `apt-get install faketime`), e.g.
# make test-at DATE="2027-01-04 10:00:00": no test may depend on the day it runs.
DATE ?= 2027-01-04 10:00:00
test-at: $(STAMP)
	FAKETIME_DONT_FAKE_MONOTONIC=1 PYTHONPATH=$(CURDIR)/tests/support/clock \
		faketime -f "@$(DATE)" $(BIN)/python -m pytest -m "not browser and not daemon and not scale" $(PYTEST_ARGS)

test-embedded: $(STAMP)
	env -u PAYROLL_TEST_DATABASE_URL $(BIN)/python -m pytest -m embedded $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

ui: $(STAMP)
	$(BIN)/payroll ui

stop:
	-$(BIN)/payroll db stop

clean: stop
	rm -rf .payroll dbt_project/target dbt_project/logs
