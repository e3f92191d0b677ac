# linksite: `make run` for a local demo, `make test` for the whole suite. See README.md.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install install-dev run test lint messages bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The runtime set for `make run` (as a production install); the development set on top of it for
# the tests, the benchmarks and the linters.
$(VENV)/.installed: requirements.txt | $(BIN)/python
	@echo "Installing linksite's dependencies into $(VENV) (the first time takes a minute or two)..."
	$(BIN)/pip install -qq --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed
	@echo "Installing the test and benchmark tools into $(VENV)..."
	$(BIN)/pip install -qq --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.dev-installed

run: install
	bash scripts/run.sh

test: install-dev
	bash scripts/test.sh

# Every benchmark, SQLite then PostgreSQL, each printing its figures against its target and
# writing bench/results/<name>.json (about 16 minutes on 2 cores).
bench: install-dev
	$(BIN)/python bench/write_1000.py
	$(BIN)/python bench/write_http.py
	$(BIN)/python bench/push.py
	$(BIN)/python bench/link_pages.py
	$(BIN)/python bench/growth.py
	$(BIN)/python bench/pull.py
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/dashboard.py

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Re-extract the French catalog after changing strings (needs GNU gettext's xgettext; the
# compile step, run by `make run` and `make test`, does not).
messages: install
	DEBUG=1 $(BIN)/python manage.py makemessages -l fr --no-location --no-obsolete --no-wrap \
		--ignore=.venv --ignore=var --ignore=tests
