"""SageMakerHosting: what a SageMaker endpoint's variants need, as explicit settings (no spec needed).

Plain data, stdlib only: DAG files build it at parse time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_mlprovider.spec.model import Autoscaling

if TYPE_CHECKING:
    from airflow_mlprovider.spec.model import ModelSpec


@dataclass(frozen=True)
class SageMakerHosting:
    """How a model's versions are hosted on a SageMaker endpoint.

    :param model: the model's name (tags of the SageMaker models).
    :param role_arn: the SageMaker execution role.
    :param instance_type: ml.* type; None picks the cheapest hosting type with `cpus` and `memory_gb`.
    :param instance_count: instances per variant.
    :param framework: the framework serving container ("sklearn", "xgboost", "pytorch").
    :param framework_version: the container version (None: the newest known).
    :param image_uri: your own serving image instead of a framework container.
    :param cpus: vCPUs wanted when no instance_type is given.
    :param memory_gb: memory wanted when no instance_type is given.
    :param data_capture_percent: capture this share of requests and responses (None: off).
    :param data_capture_uri: s3:// prefix receiving the capture.
    :param autoscaling: target-tracking autoscaling of each variant (None: fixed instance_count).
    :param state_uri: s3:// prefix where the provider keeps each endpoint's weight generation (fencing).
    """

    model: str
    role_arn: str | None
    instance_type: str | None = None
    instance_count: int = 1
    framework: str = "sklearn"
    framework_version: str | None = None
    image_uri: str | None = None
    cpus: int = 2
    memory_gb: float = 4.0
    data_capture_percent: int | None = None
    data_capture_uri: str | None = None
    autoscaling: Autoscaling | None = None
    state_uri: str | None = None

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> SageMakerHosting:
        serving, train = spec.serving, spec.train
        return cls(
            model=spec.model,
            role_arn=train.role_arn,
            instance_type=serving.instance_type if serving else None,
            instance_count=serving.instance_count if serving else 1,
            framework=train.framework,
            framework_version=train.framework_version,
            image_uri=train.image_uri,
            cpus=train.cpus,
            memory_gb=train.memory_gb,
            data_capture_percent=serving.data_capture_percent if serving else None,
            data_capture_uri=(serving.data_capture_uri if serving else None) or f"{spec.model_root}/data_capture",
            autoscaling=serving.autoscaling if serving else None,
            state_uri=spec.model_root,
        )
