"""Sales baseline: the mean units per store."""

import json
import os


def preprocess(raw, ctx, *extra):
    return raw


def train(train, validation, ctx):
    means = train.groupby("store")["units"].mean().to_dict()
    with open(os.path.join(ctx.artifact_dir, "means.json"), "w") as f:
        json.dump({"means": means, "overall": float(train["units"].mean())}, f)


def load(artifact_dir, *args):
    with open(os.path.join(artifact_dir, "means.json")) as f:
        table = json.load(f)
    return lambda request: {"prediction": table["means"].get(request["store"], table["overall"])}
