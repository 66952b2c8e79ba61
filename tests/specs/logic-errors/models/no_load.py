"""A model module that forgot load(): it can be trained but never served."""


def preprocess(raw, ctx):
    return raw


def train(train, validation, ctx):
    return None
