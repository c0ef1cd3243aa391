# Two commands on a fresh machine:  make run  (the app)   make test  (the tests)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test demo browser postgres npm bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP) npm
	$(BIN)/borderwatch setup

# npm fetches the pinned map plugins (leaflet-draw, milsymbol) at setup, checked against their integrity hashes
npm:
	@if command -v npm >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	else echo "npm is missing: install Debian's npm package (setup fetches the pinned map plugins with it)"; exit 1; fi

demo: setup
	$(BIN)/borderwatch demo --if-absent

run: demo
	$(BIN)/borderwatch users demo
	-@$(MAKE) --no-print-directory browser || echo "warning: chromium is missing: PNG and PDF exports stay unavailable until it is installed"
	$(BIN)/streamlit run app.py --server.port 8501 --server.headless true

browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium is missing: install Debian's chromium package (browser tests, PNG/PDF exports)"; exit 1; fi

# Debian's PostgreSQL server binaries (initdb, pg_ctl): the tests start their own server on a free port
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else echo "PostgreSQL is missing: install Debian's postgresql package (store tests on a PostgreSQL catalog)"; exit 1; fi

test: setup browser postgres
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: demo
	$(BIN)/borderwatch bench

clean:
	rm -rf $(VENV) var static/vendor static/basemap
