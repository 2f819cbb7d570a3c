"""The churn-risk model: how well it predicts (time-based holdout), how it is calibrated, what drives it.

`lib/churn_risk.py` fits a standardised logistic regression on `fct_customer_snapshots`. The
evaluation model learns from older snapshots and is measured on the latest labelled ones (the
holdout); the scoring model, whose coefficients are stored here and used by
`mart_customers_at_risk`, is then refitted on every labelled snapshot.
"""

from __future__ import annotations

import churn_risk as cr
import pandas as pd

MODEL_NAME = "churn_risk_logistic"


def model(dbt, session) -> pd.DataFrame:
    horizon_days = int(dbt.config.meta_get("churn_risk_horizon_days"))
    holdout_snapshots = int(dbt.config.meta_get("churn_risk_holdout_snapshots"))
    snapshots = dbt.ref("fct_customer_snapshots").filter("is_labelled").df()
    labelled = cr.model_frame(snapshots)

    rows: list[dict] = []
    if labelled.empty or labelled["is_churned_within_horizon"].nunique() < 2:
        return _typed(pd.DataFrame(rows, columns=COLUMNS))

    train, holdout = cr.time_split(labelled, holdout_snapshots, horizon_snapshots=-(-horizon_days // 30))
    evaluation = (
        cr.evaluate(train, holdout)
        if len(train) and train["is_churned_within_horizon"].nunique() == 2
        else None
    )
    scoring = cr.ChurnModel.fit(labelled)

    def summary(item: str, value: float | None, n: int | None = None) -> None:
        rows.append({"row_type": "summary", "item": item, "value": value, "n": n})

    summary("horizon_days", horizon_days)
    summary("scoring_rows", len(labelled), len(labelled))
    summary("scoring_churn_rate", float(labelled["is_churned_within_horizon"].mean()), len(labelled))
    summary("scoring_intercept", scoring.intercept)
    if evaluation is not None:
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
        for bin_row in evaluation["calibration"].itertuples():
            rows.append(
                {
                    "row_type": "calibration",
                    "item": f"decile_{bin_row.bin:02d}",
                    "n": int(bin_row.n),
                    "mean_predicted": float(bin_row.mean_predicted),
                    "observed_rate": float(bin_row.observed_rate),
                }
            )
    importance = evaluation["permutation_importance"] if evaluation is not None else None
    for feature in cr.FEATURES:
        rows.append(
            {
                "row_type": "feature",
                "item": feature.name,
                "feature_group": feature.group,
                "coefficient": float(scoring.coefficients[feature.name]),
                "feature_mean": float(scoring.standardiser.means[feature.name]),
                "feature_scale": float(scoring.standardiser.scales[feature.name]),
                "permutation_importance": None if importance is None else float(importance[feature.name]),
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["model_name"] = MODEL_NAME
    return _typed(frame)


COLUMNS = [
    "model_name",
    "row_type",
    "item",
    "value",
    "n",
    "mean_predicted",
    "observed_rate",
    "feature_group",
    "coefficient",
    "feature_mean",
    "feature_scale",
    "permutation_importance",
]


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Explicit nullable types: a column that is null on some rows keeps its type."""
    floats = ["value", "mean_predicted", "observed_rate", "coefficient", "feature_mean", "feature_scale"]
    return frame.astype(
        {
            "model_name": "string",
            "row_type": "string",
            "item": "string",
            "n": "Int64",
            "feature_group": "string",
            "permutation_importance": "Float64",
            **{column: "Float64" for column in floats},
        }
    )
