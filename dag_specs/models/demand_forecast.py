"""Daily units sold per store: gradient-boosted trees on store, price, promotion and calendar features.

The three functions (and the optional load_batch) are this model's whole contract with airflow-mlprovider. Heavy libraries are imported
inside them, so Airflow never imports pandas or scikit-learn while it parses the DAG.
"""

from __future__ import annotations

import pickle
from pathlib import Path

FEATURES = ["store", "price", "promo", "day_of_week", "day_of_year"]
LABEL = "units_sold"


def features(rows):
    """The model's inputs, derived the same way for training rows and for a served request."""
    import pandas as pd

    day = pd.to_datetime(rows["day"])
    return pd.DataFrame(
        {
            "store": rows["store"].astype(str),
            "price": rows["price"].astype(float),
            "promo": rows["promo"].astype(int),
            "day_of_week": day.dt.day_of_week,
            "day_of_year": day.dt.day_of_year,
        }
    )


def preprocess(raw, ctx):
    """One clean row per store and day; `day` as ISO text "YYYY-MM-DD", as a request carries it (it sorts by time)."""
    import pandas as pd

    clean = raw.dropna(subset=["day", "store", "price", "promo", LABEL]).drop_duplicates(["day", "store"])
    clean = clean.assign(day=pd.to_datetime(clean["day"]).dt.strftime("%Y-%m-%d"))
    ctx.log.info("preprocess kept %d of %d rows", len(clean), len(raw))
    return clean.reset_index(drop=True)


def train(train, validation, ctx):
    """Fit on `train`, log the validation RMSE, pickle the pipeline into ctx.artifact_dir.

    ctx.params: max_iter, learning_rate, and `features` (a subset of FEATURES) to try a simpler model.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import root_mean_squared_error
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    chosen = list(ctx.params.get("features", FEATURES))
    encode = ColumnTransformer(
        [("store", OneHotEncoder(handle_unknown="ignore"), [f for f in chosen if f == "store"])],
        remainder="passthrough",
    )
    regressor = HistGradientBoostingRegressor(
        max_iter=int(ctx.params.get("max_iter", 200)),
        learning_rate=float(ctx.params.get("learning_rate", 0.05)),
        random_state=0,
    )
    pipeline = Pipeline([("encode", encode), ("regress", regressor)])
    pipeline.fit(features(train)[chosen], train[LABEL])
    rmse = root_mean_squared_error(validation[LABEL], pipeline.predict(features(validation)[chosen]))
    ctx.log.info("validation rmse %.2f with features %s", rmse, chosen)
    with open(Path(ctx.artifact_dir) / "model.pkl", "wb") as fh:
        pickle.dump({"pipeline": pipeline, "features": chosen}, fh)


def _saved(artifact_dir):
    with open(Path(artifact_dir) / "model.pkl", "rb") as fh:
        return pickle.load(fh)


def load(artifact_dir):
    """Return predict(request) -> {"prediction": units}."""
    import pandas as pd

    saved = _saved(artifact_dir)

    def predict(request):
        row = features(pd.DataFrame([request]))[saved["features"]]
        return {"prediction": float(saved["pipeline"].predict(row)[0])}

    return predict


def load_batch(artifact_dir):
    """Return predict_batch(frame) -> units per row: evaluate scores the whole test set with it in one call."""
    saved = _saved(artifact_dir)

    def predict_batch(frame):
        return saved["pipeline"].predict(features(frame)[saved["features"]])

    return predict_batch
