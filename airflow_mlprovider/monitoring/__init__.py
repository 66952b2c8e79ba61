"""Pure checks of a serving window against the model's own baseline and its evaluation reference.

No Airflow here: `checks` tests traffic (errors, latency, volume, prediction moments), `drift` compares
distributions over bins fixed from a reference, `reference` builds that reference at evaluation time and
`monitor` runs every check under one false-alarm budget per interval.
"""
