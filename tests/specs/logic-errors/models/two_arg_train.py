"""train() without the validation frame."""


def train(train, ctx):
    return None


def preprocess(raw, ctx):
    return raw


def load(artifact_dir):
    return lambda request: {"probability": 0.5}
