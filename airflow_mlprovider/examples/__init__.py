"""Deterministic example data for the demo models in dag_specs/ (seeded into the embedded DuckDB warehouse)."""
