"""Scoring a model on a test set and comparing candidate with champion (no Airflow imports)."""
