"""Entry points shipped to SageMaker framework containers in a source tarball.

They run where airflow_mlprovider is NOT installed: they import only the stdlib, what the framework container
provides, and the pure modules shipped beside them (``mlprovider_artifacts``, ``mlprovider_contract``: copies of
airflow_mlprovider/artifacts.py and contract.py made by backends/aws/source_bundle.py).
"""
