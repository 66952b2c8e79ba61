"""Contract tests of a model: its functions run against each other and against its schemas (docs/contract-tests.md).

`mlprovider test SPEC...` and the pytest plugin (`pytest --mlprovider-specs PATH`) run the same checks.
"""
