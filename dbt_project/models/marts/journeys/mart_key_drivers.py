"""Key drivers: which touchpoint experiences and scores move NPS and churn most.

Both outcomes are regressed on the same standardised features of `fct_customer_snapshots`
(`lib/churn_risk.py`): churn within the horizon (logistic regression, labelled snapshots) and the
NPS score a customer gave in the 30 days after a snapshot (linear regression). One row per outcome
and driver, with the sample size behind it.
"""

from __future__ import annotations

import churn_risk as cr
import pandas as pd

METHODS = {
    "churn": "logistic regression on standardised drivers; importance = share of absolute coefficients",
    "nps": "linear regression of the standardised next NPS score; importance = Pratt's measure (beta x r / R2)",
}
FIT_MEASURES = {"churn": "auc", "nps": "r_squared"}


def model(dbt, session) -> pd.DataFrame:
    snapshots = cr.model_frame(dbt.ref("fct_customer_snapshots").df())
    samples = {
        "churn": snapshots[snapshots["is_labelled"].astype(bool)],
        "nps": snapshots[snapshots["next_nps_score"].notna()],
    }
    frames = []
    for outcome, rows in samples.items():
        # a regression needs some variation in the outcome and more rows than drivers
        if len(rows) <= len(cr.FEATURES):
            continue
        target = rows["is_churned_within_horizon"] if outcome == "churn" else rows["next_nps_score"]
        if target.nunique() < 2:
            continue
        drivers = cr.key_drivers(rows, outcome)
        drivers.insert(0, "outcome", outcome)
        drivers["fit_measure"] = FIT_MEASURES[outcome]
        drivers["method"] = METHODS[outcome]
        drivers["importance_rank"] = (
            drivers["relative_importance"].abs().rank(ascending=False, method="first").astype("Int64")
        )
        frames.append(drivers)
    columns = [
        "outcome",
        "driver",
        "driver_group",
        "standardized_coefficient",
        "correlation",
        "relative_importance",
        "importance_rank",
        "fit_quality",
        "fit_measure",
        "sample_size",
        "rows_with_driver",
        "method",
    ]
    frame = pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
    return frame.astype(
        {
            "outcome": "string",
            "driver": "string",
            "driver_group": "string",
            "standardized_coefficient": "Float64",
            "correlation": "Float64",
            "relative_importance": "Float64",
            "importance_rank": "Int64",
            "fit_quality": "Float64",
            "fit_measure": "string",
            "sample_size": "Int64",
            "rows_with_driver": "Int64",
            "method": "string",
        }
    )
