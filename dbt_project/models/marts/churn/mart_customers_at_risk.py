"""Every customer active today with their churn risk, its band and the reasons behind it.

Scores come from the scoring model stored in `mart_churn_model` (coefficients, and the means and
scales it standardised with), applied to today's snapshot in `fct_customer_snapshots`. Reasons are
the features that raise a customer's risk most compared with the average customer.
"""

from __future__ import annotations

import churn_risk as cr
import numpy as np
import pandas as pd


def model(dbt, session) -> pd.DataFrame:
    high_share = float(dbt.config.meta_get("churn_risk_high_share"))
    medium_share = float(dbt.config.meta_get("churn_risk_medium_share"))
    current = cr.model_frame(dbt.ref("fct_customer_snapshots").filter("is_current").df())
    fitted = dbt.ref("mart_churn_model").df()
    features = fitted[fitted["row_type"] == "feature"].set_index("item")
    intercept = fitted.loc[fitted["item"] == "scoring_intercept", "value"]

    frame = pd.DataFrame(
        {
            "customer_id": current["customer_id"],
            "plan": current["plan"],
            "snapshot_at": current["snapshot_at"],
        }
    )
    if features.empty or intercept.empty or current.empty:
        risk = np.full(len(current), np.nan)
        reasons = [[] for _ in range(len(current))]
    else:
        model = cr.ChurnModel(
            cr.Standardiser(
                features["feature_mean"].astype(float)[cr.FEATURE_NAMES],
                features["feature_scale"].astype(float)[cr.FEATURE_NAMES],
            ),
            features["coefficient"].astype(float)[cr.FEATURE_NAMES],
            float(intercept.iloc[0]),
        )
        risk = model.predict(current)
        reasons = model.reasons(current)

    frame["churn_risk"] = risk
    # rank 1 = highest risk; ties broken by customer id so the ranking is stable
    order = np.lexsort((frame["customer_id"].to_numpy(), -np.nan_to_num(risk, nan=-1.0)))
    rank = np.empty(len(frame), dtype=int)
    rank[order] = np.arange(1, len(frame) + 1)
    frame["risk_rank"] = rank
    share = rank / max(len(frame), 1)
    frame["risk_band"] = np.where(
        np.isnan(risk),
        None,
        np.where(share <= high_share, "high", np.where(share <= high_share + medium_share, "medium", "low")),
    )
    for position in range(3):
        frame[f"reason_{position + 1}"] = [r[position] if len(r) > position else None for r in reasons]
    frame["churn_risk_reasons"] = ["; ".join(r) if r else None for r in reasons]
    for column in (
        "negative_tickets_90d",
        "slow_first_replies_90d",
        "latest_nps_score",
        "sessions_30d",
        "days_since_last_purchase",
        "revenue_90d",
    ):
        frame[column] = current[column].to_numpy()
    return frame.sort_values("risk_rank", ignore_index=True).astype(
        {"churn_risk": "Float64", "risk_band": "string", "churn_risk_reasons": "string"}
        | {f"reason_{position}": "string" for position in (1, 2, 3)}
    )
