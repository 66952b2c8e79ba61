"""Test session set-up: a private AIRFLOW_HOME with a fresh SQLite metadata DB, created before Airflow is imported.

Everything is set unconditionally: pytest-xdist workers inherit the controller's environment, and each
worker needs its own home, metadata DB and dags folder.
"""

from __future__ import annotations

import os
import tempfile

_HOME = tempfile.mkdtemp(prefix="mlprovider-airflow-home-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME}/airflow.db"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(_HOME, "dags")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """A migrated metadata DB, for tests that run DAGs (dag.test()) or read connections from it."""
    from airflow.utils import db

    db.resetdb()
    return os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


#: Tests that each run for minutes (a Celery cluster, the demo, DAG runs, kill -9 loops, a browser): scheduled
#: first, so that pytest-xdist's workers do not finish on one long test while the others idle.
LONG_RUNNING = ("tests/distributed/", "tests/integration/", "tests/faults/", "tests/docs/", "tests/ui/test_models_page_browser.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(LONG_RUNNING))
