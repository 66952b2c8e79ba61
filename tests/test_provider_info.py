"""get_provider_info(): valid for Airflow's schema, everything it names exists, every config option is typed."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import jsonschema
import pytest

from airflow_mlprovider.get_provider_info import get_provider_info


def test_it_validates_against_airflow_s_provider_info_schema() -> None:
    import airflow

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_every_module_and_class_it_names_exists() -> None:
    info = get_provider_info()
    modules = [m for kind in ("operators", "hooks", "triggers") for entry in info[kind] for m in entry["python-modules"]]
    for module in modules:
        importlib.import_module(module)
    classes = info["notifications"] + [c["hook-class-name"] for c in info["connection-types"]]
    for dotted in classes:
        module, _, name = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), name), dotted
    [connection] = info["connection-types"]
    hook = getattr(importlib.import_module(connection["hook-class-name"].rpartition(".")[0]), "EndpointServerHook")
    assert connection["connection-type"] == hook.conn_type
    assert set(connection["ui-field-behaviour"]["hidden-fields"]) == {"login", "extra"}
    assert connection["ui-field-behaviour"]["relabeling"]["password"] == "Admin token"


def test_every_config_option_is_documented_typed_and_defaulted() -> None:
    options = get_provider_info()["config"]["mlprovider"]["options"]
    assert {"aws_poll_interval", "defaults_file", "endpoint_conn_id"} <= set(options)
    for name, option in options.items():
        assert option["description"] and option["type"] in ("string", "float", "integer", "boolean"), name
        assert "default" in option, name


def test_options_are_read_from_airflow_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_mlprovider.backends.aws.settings import poll_interval_s
    from airflow_mlprovider.provider_config import defaults_file, endpoint_conn_id

    assert (defaults_file(), endpoint_conn_id()) == (None, "mlprovider_endpoint")
    monkeypatch.setenv("AIRFLOW__MLPROVIDER__DEFAULTS_FILE", "/etc/mlprovider/defaults.yaml")
    monkeypatch.setenv("AIRFLOW__MLPROVIDER__ENDPOINT_CONN_ID", "endpoint_prod")
    monkeypatch.setenv("AIRFLOW__MLPROVIDER__AWS_POLL_INTERVAL", "0.25")
    assert (defaults_file(), endpoint_conn_id()) == ("/etc/mlprovider/defaults.yaml", "endpoint_prod")
    assert poll_interval_s() == 0.25, "a sub-second poll interval is kept, not truncated to 0"


def test_a_sub_second_poll_interval_never_becomes_zero() -> None:
    from airflow_mlprovider.backends.aws.sagemaker_training import SageMakerTrainingCompute
    from airflow_mlprovider.spec.model import Train

    compute = SageMakerTrainingCompute(Train(compute="sagemaker"), poll_interval_s=0.25)
    assert compute.poll_interval_s == 0.25
    assert compute.trigger("job-1", 60).serialize()[1]["waiter_delay"] == 1, "AWS waiters count whole seconds"


def test_no_project_module_reads_the_environment() -> None:
    """Deployment settings are [mlprovider] options; only the CLI's processes and containers read os.environ."""
    root = Path(__file__).resolve().parents[1] / "airflow_mlprovider"
    allowed = {"cli", "container", "serving"}  # processes outside Airflow: the CLI, the SageMaker container, the server
    # filters the worker's environment down to an allow-list for the training child: it passes values, reads none
    filters = {"backends/local/child_guard.py"}
    readers = [
        path.relative_to(root).as_posix()
        for path in root.rglob("*.py")
        if not allowed & set(path.relative_to(root).parts)
        and path.relative_to(root).as_posix() not in filters
        and any(word in path.read_text() for word in ("os.environ.get", "os.getenv", "environ["))
    ]
    assert readers == []
