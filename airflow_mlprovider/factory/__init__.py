"""The DAG factory: what a dags-folder loader file calls.

    from airflow_mlprovider.factory import load_dags
    load_dags(__file__, globals())
"""

from airflow_mlprovider.factory.loader import load_dags

__all__ = ["load_dags"]
