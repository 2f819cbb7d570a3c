"""The churn-risk scoring model: the logistic regression `mart_customers_at_risk` applies.

`lib/churn_risk.py` fits a standardised logistic regression on every labelled snapshot of
`fct_customer_snapshots`; its coefficients, and the means and scales it standardises with, are
stored here. How well the model predicts is measured in `mart_churn_model_evaluation`, a model of
its own so that the night's scoring (`mart_customers_at_risk`, then `dim_customers`) does not wait
for the evaluation.
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
    "feature_group": "string",
    "coefficient": "Float64",
    "feature_mean": "Float64",
    "feature_scale": "Float64",
}


def model(dbt, session) -> pd.DataFrame:
    horizon_days = int(dbt.config.meta_get("churn_risk_horizon_days"))
    labelled = cr.model_frame(dbt.ref("fct_customer_snapshots").filter("is_labelled").df())
    if labelled.empty or not cr.has_both_outcomes(labelled):
        return cr.long_frame(MODEL_NAME, [], COLUMNS)

    scoring = cr.ChurnModel.fit(labelled)
    churn_rate = float(labelled["is_churned_within_horizon"].mean())
    rows: list[dict] = [
        {"row_type": "summary", "item": "horizon_days", "value": horizon_days},
        {"row_type": "summary", "item": "scoring_rows", "value": len(labelled), "n": len(labelled)},
        {"row_type": "summary", "item": "scoring_churn_rate", "value": churn_rate, "n": len(labelled)},
        {"row_type": "summary", "item": "scoring_intercept", "value": scoring.intercept},
    ]
    rows += [
        {
            "row_type": "feature",
            "item": feature.name,
            "feature_group": feature.group,
            "coefficient": float(scoring.coefficients[feature.name]),
            "feature_mean": float(scoring.standardiser.means[feature.name]),
            "feature_scale": float(scoring.standardiser.scales[feature.name]),
        }
        for feature in cr.FEATURES
    ]
    return cr.long_frame(MODEL_NAME, rows, COLUMNS)
