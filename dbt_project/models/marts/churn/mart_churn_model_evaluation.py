"""How well the churn-risk model predicts: a time-based holdout, calibration and what drives it.

The evaluation model learns from older labelled snapshots of `fct_customer_snapshots` and is
measured on the latest ones (the holdout), with the same features and fit as the scoring model in
`mart_churn_model` (`lib/churn_risk.py`).
"""

from __future__ import annotations

import churn_risk as cr
import pandas as pd

MODEL_NAME = "churn_risk_logistic"
COLUMNS = {
    "model_name": "string",
    "row_type": "string",
    "item": "string",
    "value": "Float64",
    "n": "Int64",
    "mean_predicted": "Float64",
    "observed_rate": "Float64",
    "feature_group": "string",
    "permutation_importance": "Float64",
}


def model(dbt, session) -> pd.DataFrame:
    horizon_days = int(dbt.config.meta_get("churn_risk_horizon_days"))
    holdout_snapshots = int(dbt.config.meta_get("churn_risk_holdout_snapshots"))
    labelled = cr.model_frame(dbt.ref("fct_customer_snapshots").filter("is_labelled").df())
    if labelled.empty:
        return cr.long_frame(MODEL_NAME, [], COLUMNS)
    train, holdout = cr.time_split(labelled, holdout_snapshots, horizon_snapshots=-(-horizon_days // 30))
    if train.empty or not cr.has_both_outcomes(train):
        return cr.long_frame(MODEL_NAME, [], COLUMNS)

    evaluation = cr.evaluate(train, holdout)
    rows: list[dict] = []

    def summary(item: str, value: float | None, n: int | None = None) -> None:
        rows.append({"row_type": "summary", "item": item, "value": value, "n": n})

    summary("horizon_days", horizon_days)
    summary("training_rows", len(train), len(train))
    summary("training_snapshot_min", int(train["snapshot_number"].min()))
    summary("training_snapshot_max", int(train["snapshot_number"].max()))
    summary("holdout_rows", len(holdout), len(holdout))
    summary("holdout_snapshot_min", int(holdout["snapshot_number"].min()))
    summary("holdout_snapshot_max", int(holdout["snapshot_number"].max()))
    summary("training_auc", evaluation["train_auc"], len(train))
    summary("holdout_auc", evaluation["holdout_auc"], len(holdout))
    summary("holdout_brier_score", evaluation["holdout_brier"], len(holdout))
    summary("holdout_predicted_churn_rate", evaluation["holdout_predicted_rate"], len(holdout))
    summary("holdout_observed_churn_rate", evaluation["holdout_observed_rate"], len(holdout))
    rows += [
        {
            "row_type": "calibration",
            "item": f"decile_{bin_row.bin:02d}",
            "n": int(bin_row.n),
            "mean_predicted": float(bin_row.mean_predicted),
            "observed_rate": float(bin_row.observed_rate),
        }
        for bin_row in evaluation["calibration"].itertuples()
    ]
    importance = evaluation["permutation_importance"]
    rows += [
        {
            "row_type": "feature",
            "item": feature.name,
            "feature_group": feature.group,
            "permutation_importance": None if importance is None else float(importance[feature.name]),
        }
        for feature in cr.FEATURES
    ]
    return cr.long_frame(MODEL_NAME, rows, COLUMNS)
