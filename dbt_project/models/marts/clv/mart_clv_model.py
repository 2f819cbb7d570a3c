"""The fitted customer-lifetime-value models: one row per model (BG/NBD, Gamma-Gamma).

Both are fitted by maximum likelihood on `int_purchase_histories_summarized` (see
`lib/lifetime_value.py`). A fit that failed (too few customers, no repeat buyers, no optimum) keeps
its row with `is_converged = false` and null parameters, so the build goes on and
`mart_customer_clv` falls back to historical value only.
"""

from __future__ import annotations

import lifetime_value as lv
import pandas as pd

PARAMETERS = ("r", "alpha", "a", "b", "p", "q", "gamma")


def model(dbt, session) -> pd.DataFrame:
    # A fixed row order makes the floating-point sums, and so the fit, identical from run to run.
    histories = (
        dbt.ref("int_purchase_histories_summarized")
        .df(date_as_object=True)
        .sort_values("customer_id", ignore_index=True)
    )
    # Every row carries the same date; with no purchases at all there is none to report.
    calibration_end = histories["calibration_end_date"].iloc[0] if len(histories) else None

    bg_nbd = lv.fit_bg_nbd(histories["frequency"], histories["recency_weeks"], histories["tenure_weeks"])
    gamma_gamma = lv.fit_gamma_gamma(histories["frequency"], histories["average_repeat_value"])

    rows = []
    for name, fit, parameters in (
        ("bg_nbd", bg_nbd, {"r": bg_nbd.r, "alpha": bg_nbd.alpha, "a": bg_nbd.a, "b": bg_nbd.b}),
        ("gamma_gamma", gamma_gamma, {"p": gamma_gamma.p, "q": gamma_gamma.q, "gamma": gamma_gamma.gamma}),
    ):
        rows.append(
            {
                "model_name": name,
                **{parameter: parameters.get(parameter) for parameter in PARAMETERS},
                "log_likelihood": fit.log_likelihood,
                "sample_size": fit.n,
                "is_converged": fit.converged,
                "calibration_end_date": calibration_end,
                # the data's date, not the wall clock: the same extracts give the same mart
                "fitted_on": calibration_end,
            }
        )
    frame = pd.DataFrame(rows)
    # Explicit nullable types, so a failed fit gives typed nulls rather than object columns.
    return frame.astype(
        {
            **{parameter: "Float64" for parameter in PARAMETERS},
            "log_likelihood": "Float64",
            "sample_size": "Int64",
            "is_converged": "boolean",
        }
    )
