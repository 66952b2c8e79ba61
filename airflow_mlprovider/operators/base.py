"""What every lifecycle operator shares: the spec it was built from and where its run's artifacts live."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from airflow_mlprovider.spec.model import ModelSpec

# Fixed task ids of the generated DAG (group.task); operators pull their inputs' XCom by these.
DBT_BUILD = "data.dbt_build"
EXTRACT = "data.extract"
PREPROCESS = "data.preprocess"
SPLIT = "data.split"
TRAIN = "train.train"
EVALUATE = "evaluate.evaluate"
DECIDE = "evaluate.decide"
REGISTER = "promote.register"
DEPLOY = "promote.deploy"
HEALTH_CHECK = "promote.health_check"
ROLLOUT = "rollout.rollout"
FINALIZE = "rollout.finalize"
ROLLBACK = "rollout.rollback"


class ModelSpecOperator(BaseOperator):
    """Base of the lifecycle operators: carries the validated spec as a plain dict (serializable)."""

    ui_color = "#e8f4ea"

    def __init__(self, *, spec: dict[str, Any], spec_source: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.spec_source = spec_source

    @cached_property
    def model_spec(self) -> ModelSpec:
        return ModelSpec.from_dict(self.spec, self.spec_source)

    def run_uri(self, context: Any, *parts: str) -> str:
        """URI of this run's artifact `parts`: <artifact_root>/<model>/runs/<run_key>/<parts...>."""
        return "/".join([self.model_spec.model_root, "runs", run_key(context), *parts])


def run_key(context: Any) -> str:
    """A stable, path-safe key of the DAG run: a retried task writes to the same place."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", context["run_id"])
