"""Churn baseline: the share of churned customers per tenure bucket."""

import json
import os


def preprocess(raw, ctx):
    return raw.dropna(subset=["tenure_months", "monthly_spend"])


def train(train, validation, ctx):
    buckets = (train["tenure_months"] // 12).astype(int)
    rates = train.groupby(buckets)["churned"].mean().to_dict()
    with open(os.path.join(ctx.artifact_dir, "rates.json"), "w") as f:
        json.dump({"rates": {str(k): v for k, v in rates.items()}, "overall": float(train["churned"].mean())}, f)


def load(artifact_dir):
    with open(os.path.join(artifact_dir, "rates.json")) as f:
        table = json.load(f)

    def predict(request):
        bucket = str(int(request["tenure_months"]) // 12)
        return {"probability": table["rates"].get(bucket, table["overall"])}

    return predict
