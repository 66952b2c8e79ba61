"""airflow-mlprovider: one YAML spec per model becomes a full, safe ML lifecycle DAG."""

__version__ = "0.1.0"
