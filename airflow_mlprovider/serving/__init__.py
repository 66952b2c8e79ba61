"""The local endpoint server: named endpoints with weighted, fenced variants, schema validation and metrics.

An ASGI application (Starlette requests and responses) served by uvicorn, both installed with Airflow;
a variant's own model code brings whatever it needs.
"""
