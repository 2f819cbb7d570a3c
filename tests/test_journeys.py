"""Journeys, moments of truth, churn risk and key drivers on a year of demo data.

Counts are recomputed from the extract files with pandas; model outputs are checked against the
planted truths of docs/demo-data.md and against properties that hold by construction (Pratt shares
add up to one, every active customer is scored once, calibration deciles cover the holdout).
"""

from __future__ import annotations

import sys

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ingestion.settings import DBT_PROJECT_DIR

# The churn model's library, imported from lib/ as the dbt Python models do.
sys.path.insert(0, str(DBT_PROJECT_DIR / "lib"))
import churn_risk as cr

Files = dict[str, pd.DataFrame]


def utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, format="ISO8601").dt.tz_localize(None)


@pytest.fixture(scope="module")
def people(demo_files: Files) -> pd.DataFrame:
    """Per CRM customer: first visit (any device they own), sign-up, first and repeat purchase."""
    events = demo_files["web.events"].assign(occurred_at=lambda f: utc(f.occurred_at))
    # a device belongs to the first customer identified on it, from its first event on
    identified = events.dropna(subset=["customer_id"]).sort_values(["occurred_at", "event_id"])
    owners = identified.drop_duplicates("visitor_id").set_index("visitor_id").customer_id
    events["owner"] = events.visitor_id.map(owners)
    first_visit = events.dropna(subset=["owner"]).groupby("owner").occurred_at.min()

    customers = (
        demo_files["crm.customers"].sort_values("updated_at").drop_duplicates("customer_id", keep="last")
    )
    frame = customers.set_index("customer_id")[["signup_at"]].assign(signup_at=lambda f: utc(f.signup_at))
    frame["first_visit_at"] = first_visit
    orders = demo_files["crm.orders"].drop_duplicates("order_id", keep="last")
    purchases = orders[orders.order_type != "cancel"].assign(ordered_at=lambda f: utc(f.ordered_at))
    first = purchases.groupby("customer_id").ordered_at.min()
    frame["first_purchase_at"] = first
    later_day = purchases[
        purchases.ordered_at.dt.normalize() > purchases.customer_id.map(first).dt.normalize()
    ]
    frame["repeat_purchase_at"] = later_day.groupby("customer_id").ordered_at.min()
    frame.attrs["anonymous_visitors"] = events.loc[events.owner.isna(), "visitor_id"].nunique()
    return frame


def test_funnel_counts_people_in_order(demo_db: duckdb.DuckDBPyConnection, people: pd.DataFrame) -> None:
    funnel = dict(
        demo_db.execute("select step, people from marts.mart_journey_funnel where cohort = 'all'").fetchall()
    )
    visited = people.dropna(subset=["first_visit_at"])
    signed_up = visited[visited.signup_at >= visited.first_visit_at]
    bought = signed_up[signed_up.first_purchase_at >= signed_up.signup_at]
    repeated = bought[bought.repeat_purchase_at >= bought.first_purchase_at]
    assert funnel == {
        "visit": people.attrs["anonymous_visitors"] + len(visited),
        "sign_up": len(signed_up),
        "first_purchase": len(bought),
        "repeat_purchase": len(repeated),
    }
    assert 0 < len(repeated) < len(bought)


def test_funnel_cohorts_add_up_to_all(demo_db: duckdb.DuckDBPyConnection) -> None:
    mismatches = demo_db.execute(
        """
        select step
        from marts.mart_journey_funnel
        group by step
        having sum(people) filter (where cohort = 'all') != sum(people) filter (where cohort != 'all')
        """
    ).fetchall()
    assert mismatches == []


def test_every_customer_has_a_journey_with_its_repeat_purchase(
    demo_db: duckdb.DuckDBPyConnection, people: pd.DataFrame
) -> None:
    journeys = demo_db.execute(
        "select customer_id, repeat_purchase_at, touchpoints, path_steps from marts.mart_customer_journey"
    ).df()
    assert len(journeys) == len(people)
    by_customer = journeys.set_index("customer_id")
    expected = people.repeat_purchase_at.dropna()
    assert (by_customer.loc[expected.index, "repeat_purchase_at"] == expected).all()
    assert by_customer.repeat_purchase_at.notna().sum() == len(expected)
    assert (by_customer.path_steps <= by_customer.touchpoints).all()


def test_touchpoint_impact_counts_detractors_from_the_files(
    demo_db: duckdb.DuckDBPyConnection, demo_files: Files
) -> None:
    responses = demo_files["surveys.responses"].drop_duplicates("response_id", keep="last")
    relationship = responses[(responses.survey_type == "NPS") & (responses.touchpoint == "relationship")]
    scores = pd.to_numeric(relationship.score)
    row = demo_db.execute(
        "select touchpoints, negative_touchpoints, positive_touchpoints from marts.mart_touchpoint_impact "
        "where touchpoint = 'survey_response:NPS:relationship'"
    ).fetchone()
    assert row == (len(relationship), int((scores <= 6).sum()), int((scores >= 9).sum()))


@pytest.mark.parametrize("touchpoint", ["support_ticket", "survey_response:NPS:relationship"])
def test_bad_experiences_precede_churn(demo_db: duckdb.DuckDBPyConnection, touchpoint: str) -> None:
    """Planted truths (a)-(c): a bad ticket or a detractor score is followed by more churn."""
    after_negative, after_positive, z, n_negative = demo_db.execute(
        "select churn_rate_after_negative_pct, churn_rate_after_positive_pct, churn_difference_z_score, "
        "customers_after_negative from marts.mart_touchpoint_impact where touchpoint = ?",
        [touchpoint],
    ).fetchone()
    assert n_negative >= 30
    assert after_negative > 1.5 * after_positive
    assert z > 1.96


def test_every_active_customer_is_scored_once(demo_db: duckdb.DuckDBPyConnection, demo_files: Files) -> None:
    customers = set(demo_files["crm.customers"].customer_id)
    cancelled = set(demo_files["crm.orders"].query("order_type == 'cancel'").customer_id)
    scored = demo_db.execute(
        "select customer_id, churn_risk, risk_band, reason_1 from marts.mart_customers_at_risk"
    ).df()
    # every demo customer subscribes and the demo never reactivates: active = never cancelled
    assert sorted(scored.customer_id) == sorted(customers - cancelled)
    assert scored.churn_risk.between(0, 1).all()
    bands = scored.risk_band.value_counts()
    shares = [rank / len(scored) for rank in range(1, len(scored) + 1)]
    assert bands["high"] == sum(share <= 0.10 for share in shares)
    assert bands["medium"] == sum(0.10 < share <= 0.10 + 0.20 for share in shares)
    assert scored.reason_1.notna().mean() > 0.9
    in_dim = demo_db.execute(
        "select count(*) from marts.dim_customers where churn_risk is not null and is_active"
    ).fetchone()[0]
    assert in_dim == len(scored)


def test_churn_model_is_evaluated_on_a_later_holdout(demo_db: duckdb.DuckDBPyConnection) -> None:
    summary = dict(
        demo_db.execute(
            "select item, value from marts.mart_churn_model where row_type = 'summary'"
        ).fetchall()
    )
    # the training horizon (3 spans of 30 days) ends before the earliest holdout snapshot
    assert summary["training_snapshot_min"] >= summary["holdout_snapshot_max"] + 3
    assert summary["holdout_auc"] > 0.62
    deciles = demo_db.execute(
        "select n, mean_predicted, observed_rate from marts.mart_churn_model "
        "where row_type = 'calibration' order by item"
    ).fetchall()
    assert len(deciles) == 10
    assert sum(n for n, _, _ in deciles) == summary["holdout_rows"]
    assert deciles[-1][2] > 2 * deciles[0][2]  # the riskiest tenth churns far more than the safest


def test_the_scoring_model_learns_from_every_labelled_snapshot(demo_db: duckdb.DuckDBPyConnection) -> None:
    labelled, churned = demo_db.execute(
        "select count(*), count(*) filter (where is_churned_within_horizon) "
        "from marts.fct_customer_snapshots where is_labelled"
    ).fetchone()
    summary = dict(
        demo_db.execute(
            "select item, value from marts.mart_churn_model where row_type = 'summary'"
        ).fetchall()
    )
    assert summary["scoring_rows"] == labelled
    assert summary["scoring_churn_rate"] == pytest.approx(churned / labelled)
    # every feature has its scoring coefficient and its importance on the holdout
    features = demo_db.execute(
        "select item from marts.mart_churn_model where row_type = 'feature' "
        "and coefficient is not null and permutation_importance is not null"
    ).fetchall()
    assert sorted(item for (item,) in features) == sorted(cr.FEATURE_NAMES)


def test_holdout_churn_matches_the_order_files(demo_db: duckdb.DuckDBPyConnection, demo_files: Files) -> None:
    """The labels behind the holdout: active customers at a snapshot and who cancelled within 90 days."""
    number, snapshot_at, active, churned = demo_db.execute(
        "select snapshot_number, snapshot_at, count(*), count(*) filter (where is_churned_within_horizon) "
        "from marts.fct_customer_snapshots where snapshot_number = 3 group by all"
    ).fetchone()
    orders = demo_files["crm.orders"].drop_duplicates("order_id", keep="last")
    orders = orders.assign(ordered_at=utc(orders.ordered_at))
    started = orders[orders.order_type == "new"].groupby("customer_id").ordered_at.min()
    cancelled = orders[orders.order_type == "cancel"].groupby("customer_id").ordered_at.min()
    frame = pd.DataFrame({"started": started, "cancelled": cancelled})
    at = pd.Timestamp(snapshot_at)
    is_active = (frame.started < at) & ~(frame.cancelled <= at)
    is_churned = is_active & (frame.cancelled < at + pd.Timedelta(days=90))
    assert number == 3
    assert (active, churned) == (int(is_active.sum()), int(is_churned.sum()))


def test_key_drivers_find_the_planted_drivers(demo_db: duckdb.DuckDBPyConnection) -> None:
    drivers = demo_db.execute(
        "select outcome, driver, standardized_coefficient, relative_importance, sample_size "
        "from marts.mart_key_drivers"
    ).df()
    churn = drivers[drivers.outcome == "churn"].set_index("driver")
    nps = drivers[drivers.outcome == "nps"].set_index("driver")
    # planted (d): premium churns less, basic more; (b): a slow first reply raises churn
    assert churn.at["is_premium_plan", "standardized_coefficient"] < 0
    assert churn.at["is_basic_plan", "standardized_coefficient"] > 0
    assert churn.at["slow_first_replies_90d", "standardized_coefficient"] > 0
    # planted (a): bad tickets lower the next NPS; satisfaction persists between answers
    assert nps.at["negative_tickets_90d", "standardized_coefficient"] < 0
    assert nps.at["latest_nps_score", "standardized_coefficient"] > 0
    # both importance measures are shares of a whole
    assert churn.relative_importance.sum() == pytest.approx(1)
    assert nps.relative_importance.sum() == pytest.approx(1)
    assert (nps.sample_size < churn.sample_size).all()


def test_auc_counts_a_tie_as_half() -> None:
    # Churners score 0.9 and 0.4, non-churners 0.1 and 0.4: of the four pairs, three are ranked
    # right (0.9 > 0.1, 0.9 > 0.4, 0.4 > 0.1) and one is tied (0.4 = 0.4), so 3.5 / 4.
    assert cr.auc(np.array([1, 0, 1, 0]), np.array([0.9, 0.1, 0.4, 0.4])) == 3.5 / 4


def test_auc_is_the_area_under_the_roc_curve() -> None:
    rng = np.random.default_rng(1)
    actual = rng.random(20_000) < 0.2
    scores = np.round(rng.normal(size=20_000) + actual, 1)  # rounded to one decimal: many ties
    assert cr.auc(actual, scores) == pytest.approx(roc_auc_score(actual, scores), abs=1e-12)
