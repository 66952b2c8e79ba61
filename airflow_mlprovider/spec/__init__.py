"""Model specs: the JSON Schema, loading with file:line errors, and the typed ModelSpec."""

from airflow_mlprovider.spec.errors import SpecError, SpecValidationError
from airflow_mlprovider.spec.loader import DEFAULTS_FILE, SPEC_SUFFIX, LoadResult, load_spec_file, load_specs
from airflow_mlprovider.spec.model import ModelSpec

__all__ = [
    "DEFAULTS_FILE",
    "SPEC_SUFFIX",
    "LoadResult",
    "ModelSpec",
    "SpecError",
    "SpecValidationError",
    "load_spec_file",
    "load_specs",
]
