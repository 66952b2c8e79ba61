# Two entry points for a fresh clone: `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export AIRFLOW_HOME ?= $(CURDIR)/.airflow

.PHONY: env sysdeps demo test bench clean

# uv (installed into the system interpreter) creates the venv and resolves the install in about a minute.
$(BIN)/mlprovider: setup.cfg pyproject.toml
	$(PY) -m pip install -q uv
	$(PY) -m uv venv -q --allow-existing -p $(PY) $(VENV)
	$(PY) -m uv pip install -q -p $(BIN)/python -e '.[dev]'
	touch $@

env: $(BIN)/mlprovider

# Debian packages the demo (PostgreSQL as Airflow's metadata DB) and the suite (PostgreSQL, Redis, headless
# Chromium) run; installed once, only when missing (as root, or through sudo).
SYSDEPS := postgresql redis-server chromium
sysdeps:
	@missing=$$(for p in $(SYSDEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian packages: $$missing"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: env sysdeps
	$(BIN)/mlprovider demo --specs dag_specs

# One worker more than cores: the longest tests mostly wait (whole CloudWatch minutes, a demo's scheduler),
# and the extra worker runs other tests meanwhile.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))

test: env sysdeps
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=25 tests

bench: env
	$(BIN)/python bench/parse_time.py
	$(BIN)/python bench/rollout_sim.py
	$(BIN)/python bench/serve_load.py
	$(BIN)/python bench/evaluate_scale.py

clean:
	rm -rf $(VENV) .airflow .demo
