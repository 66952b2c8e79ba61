# Two entry points for a fresh clone: `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export AIRFLOW_HOME ?= $(CURDIR)/.airflow

.PHONY: env demo test bench clean

# uv (installed into the system interpreter) creates the venv and resolves the install in about a minute.
$(BIN)/mlprovider: setup.cfg pyproject.toml
	$(PY) -m pip install -q uv
	$(PY) -m uv venv -q --allow-existing -p $(PY) $(VENV)
	$(PY) -m uv pip install -q -p $(BIN)/python -e '.[dev]'
	touch $@

env: $(BIN)/mlprovider

demo: env
	$(BIN)/mlprovider demo --specs dag_specs

test: env
	$(BIN)/python -m pytest -q -n auto tests

bench: env
	$(BIN)/python bench/parse_time.py
	$(BIN)/python bench/rollout_sim.py
	$(BIN)/python bench/serve_load.py
	$(BIN)/python bench/evaluate_scale.py

clean:
	rm -rf $(VENV) .airflow .demo
