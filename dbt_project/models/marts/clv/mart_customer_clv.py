"""Customer lifetime value per customer: historical value to date and the model's prediction.

Predictions use the parameters in `mart_clv_model` (fitted once, there) on each customer's
calibration summary. The horizon and the discount rate come from the vars `clv_horizon_months` and
`clv_annual_discount_rate`, passed in through this model's `meta` (`_clv__models.yml`), because a
Python model cannot call `var()`.
"""

from __future__ import annotations

import lifetime_value as lv
import numpy as np
import pandas as pd


def model(dbt, session) -> pd.DataFrame:
    horizon_months = int(dbt.config.meta_get("clv_horizon_months"))
    annual_discount_rate = float(dbt.config.meta_get("clv_annual_discount_rate"))

    # Historical CLV is all revenue to date, also after the calibration end.
    revenue = (
        dbt.ref("fct_orders")
        .filter("is_purchase")
        .aggregate("customer_id, sum(amount)::double as historical_clv", "customer_id")
        .df()
    )
    histories = (
        dbt.ref("int_purchase_histories_summarized")
        .df(date_as_object=True)
        .merge(revenue, on="customer_id", how="left")
        .sort_values("customer_id", ignore_index=True)
    )
    fits = dbt.ref("mart_clv_model").df().set_index("model_name")

    x = histories["frequency"].to_numpy(dtype=float)
    t_x = histories["recency_weeks"].to_numpy(dtype=float)
    T = histories["tenure_weeks"].to_numpy(dtype=float)
    zbar = histories["average_repeat_value"].to_numpy(dtype=float)
    missing = np.full(len(histories), np.nan)

    bg_nbd = _fitted(fits, "bg_nbd", lv.BgNbdFit, ("r", "alpha", "a", "b"))
    gamma_gamma = _fitted(fits, "gamma_gamma", lv.GammaGammaFit, ("p", "q", "gamma"))
    if bg_nbd is not None:
        probability_alive = lv.probability_alive(bg_nbd, x, t_x, T)
        expected_purchases = lv.expected_purchases(bg_nbd, horizon_months * lv.WEEKS_PER_MONTH, x, t_x, T)
    else:
        probability_alive = expected_purchases = missing
    if gamma_gamma is not None:
        spend, spend_model = lv.expected_average_spend(gamma_gamma, x, zbar), "gamma_gamma"
    else:
        spend, spend_model = lv.observed_average_spend(x, zbar), "observed_average"
    if bg_nbd is not None:
        predicted = lv.discounted_expected_value(
            bg_nbd, spend, x, t_x, T, horizon_months, annual_discount_rate
        )
    else:
        predicted = missing

    final = pd.DataFrame(
        {
            "customer_id": histories["customer_id"],
            "historical_clv": histories["historical_clv"],
            "frequency": histories["frequency"],
            "recency_weeks": histories["recency_weeks"],
            "tenure_weeks": histories["tenure_weeks"],
            "average_repeat_value": histories["average_repeat_value"],
            "probability_alive": probability_alive,
            "expected_purchases_12m": expected_purchases,
            "expected_average_order_value": spend,
            "predicted_clv_12m": predicted,
            "spend_model": spend_model,
            "calibration_end_date": histories["calibration_end_date"],
        }
    )
    # NaN -> null: a prediction that could not be made is unknown, not a number.
    predictive = [
        "probability_alive",
        "expected_purchases_12m",
        "expected_average_order_value",
        "predicted_clv_12m",
    ]
    return final.astype({column: "Float64" for column in predictive})


def _fitted(
    fits: pd.DataFrame, name: str, fit_type: type[lv.BgNbdFit | lv.GammaGammaFit], parameters: tuple[str, ...]
) -> lv.BgNbdFit | lv.GammaGammaFit | None:
    """The fitted model of that name, or None when it did not converge (or was never fitted)."""
    if name not in fits.index or not bool(fits.loc[name, "is_converged"]):
        return None
    row = fits.loc[name]
    return fit_type(
        **{parameter: float(row[parameter]) for parameter in parameters},
        log_likelihood=float(row["log_likelihood"]),
        n=int(row["sample_size"]),
        converged=True,
    )
