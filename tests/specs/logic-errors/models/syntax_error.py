"""A module with a syntax error on line 4."""


def preprocess(raw, ctx)
    return raw
