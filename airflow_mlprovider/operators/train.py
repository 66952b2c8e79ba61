"""TRAIN: run the model module's train() on the split, on the spec's compute, into the run's artifact folder.

On a compute that runs remotely (a SageMaker training job) the task starts the job and defers: the
worker slot is free while the job runs, and the triggerer wakes the task to collect the artifact.
"""

from __future__ import annotations

from typing import Any

from airflow_mlprovider.operators.base import SPLIT, ModelSpecOperator, run_key


class TrainOperator(ModelSpecOperator):
    """Build a TrainingJob from the spec and SPLIT's XCom and hand it to the compute backend.

    :param deferrable: on a remote compute, wait for the job in the triggerer instead of on the worker.
    """

    def __init__(self, *, deferrable: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deferrable = deferrable

    def _job(self, context: Any):
        from airflow_mlprovider.backends.base import TrainingJob
        from airflow_mlprovider.operators.data import utc_interval

        spec = self.model_spec
        split = context["ti"].xcom_pull(task_ids=SPLIT)
        start, end = utc_interval(context)
        return TrainingJob(
            model=spec.model,
            run_key=run_key(context),
            module_path=spec.code.module,
            train_uri=split["train_uri"],
            validation_uri=split["validation_uri"],
            artifact_uri=self.run_uri(context, "artifact"),
            params=dict(spec.code.params),
            max_runtime_s=spec.train.max_runtime_s,
            data_interval_start=start.isoformat(),
            data_interval_end=end.isoformat(),
            spec_source=spec.source,
        )

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_mlprovider.backends import compute_for

        spec = self.model_spec
        job = self._job(context)
        compute = compute_for(spec)
        self.log.info(
            "training %s on %s compute (max runtime %.0fs)", spec.model, spec.train.compute, job.max_runtime_s
        )
        if self.deferrable and hasattr(compute, "start"):
            job_name = compute.start(job)
            self.log.info("started training job %s; waiting in the triggerer", job_name)
            self.defer(trigger=compute.trigger(job_name, job.max_runtime_s), method_name="execute_complete")
        return self._result(compute.train(job))

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        from airflow_mlprovider.backends import compute_for

        # The trigger's event names the job; the job itself is rebuilt from the context as execute() built it
        # (so resuming needs nothing but the event: dag.test() passes no defer kwargs).
        job_name = event["job_name"]
        self.log.info("training job %s ended: %s", job_name, event.get("status"))
        # collect() reads the job's final state itself and raises with SageMaker's failure reason
        return self._result(compute_for(self.model_spec).collect(self._job(context), job_name))

    def _result(self, result: Any) -> dict[str, Any]:
        from airflow_mlprovider.artifacts import manifest_digest

        self.log.info("trained in %.1fs: %s", result.duration_s, result.artifact_uri)
        return {
            "artifact_uri": result.artifact_uri,
            "manifest_digest": manifest_digest(result.manifest),
            "duration_s": round(result.duration_s, 3),
            **({"job": result.detail} if result.detail else {}),
        }
