from airflow_mlprovider.factory import load_dags  # one DAG per *.model.yaml in this folder (airflow dag)
load_dags(__file__, globals())
