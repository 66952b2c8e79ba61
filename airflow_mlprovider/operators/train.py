"""TRAIN: run the model module's train() on the split, on the spec's compute, into the run's artifact folder."""

from __future__ import annotations

from typing import Any

from airflow_mlprovider.operators.base import SPLIT, ModelSpecOperator, run_key


class TrainOperator(ModelSpecOperator):
    """Build a TrainingJob from the spec and SPLIT's XCom and hand it to the compute backend."""

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_mlprovider.artifacts import manifest_digest
        from airflow_mlprovider.backends import compute_for
        from airflow_mlprovider.backends.base import TrainingJob
        from airflow_mlprovider.operators.data import utc_interval

        spec = self.model_spec
        split = context["ti"].xcom_pull(task_ids=SPLIT)
        start, end = utc_interval(context)
        job = TrainingJob(
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
        self.log.info("training %s on %s compute (max runtime %.0fs)", spec.model, spec.train.compute, job.max_runtime_s)
        result = compute_for(spec).train(job)
        self.log.info("trained in %.1fs: %s", result.duration_s, result.artifact_uri)
        return {
            "artifact_uri": result.artifact_uri,
            "manifest_digest": manifest_digest(result.manifest),
            "duration_s": round(result.duration_s, 3),
        }
