"""The local endpoint server: named endpoints with weighted variants, schema validation and metrics.

Stdlib + jsonschema only; a variant's own model code brings whatever it needs.
"""
