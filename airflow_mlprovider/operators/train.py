"""Train: the model module's train() on a split, on a compute (local subprocess or SageMaker), into an artifact folder.

On SageMaker the task starts the job and, when deferrable, defers: the worker slot is free while the job runs,
and the triggerer wakes the task to collect the artifact.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_mlprovider.operators.base import LifecycleOperator, default_deferrable, run_key, utc_interval
from airflow_mlprovider.spec.model import Train

if TYPE_CHECKING:
    from airflow_mlprovider.backends.base import TrainingCompute, TrainingJob

COMPUTES = ("local", "sagemaker")


class TrainOperator(LifecycleOperator):
    """Run `train(train, validation, ctx)` of `model_module` under a hard max runtime; the artifact gets the
    module's code and a MANIFEST.json of sha256 digests.

    :param model: the model's name (`ctx.model`, job names).
    :param model_module: path of the model module.
    :param train_uri: the training Parquet, e.g. `split.output["train_uri"]`; templated.
    :param validation_uri: the validation Parquet; templated.
    :param artifact_uri: the artifact folder to create; templated.
    :param model_params: hyper-parameters given as `ctx.params`; templated.
    :param max_runtime_s: seconds after which training is killed (local) or stopped by SageMaker.
    :param compute: "local" (a subprocess of the worker, in its own process group) or "sagemaker".
    :param role_arn: sagemaker: the execution role.
    :param instance_type: sagemaker: an ml.* type; None picks the cheapest with `cpus`, `memory_gb`, `gpu`.
    :param framework: sagemaker: "sklearn", "xgboost" or "pytorch" (the framework container, script mode).
    :param framework_version: sagemaker: the container version (None: the newest known).
    :param image_uri: sagemaker: your own training image instead of a framework container.
    :param cpus: sagemaker: vCPUs wanted when no instance_type is given.
    :param memory_gb: sagemaker: memory wanted when no instance_type is given.
    :param gpu: sagemaker: whether a GPU is wanted.
    :param deferrable: sagemaker: wait in the triggerer; defaults to `[operators] default_deferrable`.
    :return: `{"artifact_uri", "manifest_digest", "duration_s"}` (and `job` on SageMaker).

    Killing the task (`on_kill`) kills the local training process group or stops the SageMaker job.
    """

    template_fields: Sequence[str] = ("train_uri", "validation_uri", "artifact_uri", "model_params")

    def __init__(
        self, *, model: str, model_module: str, train_uri: str, validation_uri: str, artifact_uri: str,
        model_params: dict[str, Any] | None = None, max_runtime_s: float = 1800.0, compute: str = "local",
        role_arn: str | None = None, instance_type: str | None = None, framework: str = "sklearn",
        framework_version: str | None = None, image_uri: str | None = None, cpus: int = 2,
        memory_gb: float = 4.0, gpu: bool = False, deferrable: bool | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if compute not in COMPUTES:
            raise ValueError(f"compute must be one of {', '.join(COMPUTES)}, got {compute!r}")
        self.model = model
        self.model_module = model_module
        self.train_uri = train_uri
        self.validation_uri = validation_uri
        self.artifact_uri = artifact_uri
        self.model_params = model_params or {}
        self.training = Train(
            max_runtime_s=float(max_runtime_s), compute=compute, framework=framework,
            framework_version=framework_version, image_uri=image_uri, instance_type=instance_type, cpus=cpus,
            memory_gb=memory_gb, gpu=gpu, role_arn=role_arn,
        )
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self._compute: TrainingCompute | None = None

    def _job(self, context: Any) -> TrainingJob:
        from airflow_mlprovider.backends.base import TrainingJob

        start, end = utc_interval(context)
        return TrainingJob(
            model=self.model,
            run_key=run_key(context["run_id"]),
            module_path=self.model_module,
            train_uri=self.train_uri,
            validation_uri=self.validation_uri,
            artifact_uri=self.artifact_uri,
            params=dict(self.model_params),
            max_runtime_s=self.training.max_runtime_s,
            data_interval_start=start.isoformat(),
            data_interval_end=end.isoformat(),
        )

    def compute(self) -> TrainingCompute:
        from airflow_mlprovider.backends import training_compute

        if self._compute is None:
            self._compute = training_compute(self.training, self.store(self.artifact_uri), self.aws_conn_id)
        return self._compute

    def execute(self, context: Any) -> dict[str, Any]:
        job, compute = self._job(context), self.compute()
        self.log.info("training %s on %s compute (max runtime %.0fs)", self.model, self.training.compute,
                      job.max_runtime_s)
        if self.deferrable and hasattr(compute, "start"):
            job_name = compute.start(job)
            self.log.info("started training job %s; waiting in the triggerer", job_name)
            self.defer(trigger=compute.trigger(job_name, job.max_runtime_s), method_name="execute_complete")
        with self.failing_without_retry_on_user_errors():
            return self._result(compute.train(job))

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        # The trigger's event names the job; the job itself is rebuilt from the arguments as execute() built it
        # (so resuming needs nothing but the event: dag.test() passes no defer kwargs).
        job_name = event["job_name"]
        self.log.info("training job %s ended: %s", job_name, event.get("status"))
        # collect() reads the job's final state itself and raises with SageMaker's failure reason
        with self.failing_without_retry_on_user_errors():
            return self._result(self.compute().collect(self._job(context), job_name))

    def on_kill(self) -> None:
        if self._compute is not None:
            self.log.warning("task killed: stopping the training it started")
            self._compute.stop()

    def _result(self, result: Any) -> dict[str, Any]:
        from airflow_mlprovider.artifacts import manifest_digest

        self.log.info("trained in %.1fs: %s", result.duration_s, result.artifact_uri)
        return {
            "artifact_uri": result.artifact_uri,
            "manifest_digest": manifest_digest(result.manifest),
            "duration_s": round(result.duration_s, 3),
            **({"job": result.detail} if result.detail else {}),
        }
