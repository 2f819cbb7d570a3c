"""The semantic layer: the metrics of docs/metrics.md queried through MetricFlow (`mf`) on the demo night.

Each metric is checked twice: against the mart that publishes it (the same number, to the mart's
rounding) and against a count made here from the definitions in DOMAIN.md over the fact rows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from ingestion.settings import DBT_PROJECT_DIR, Paths

MF = str(Path(sys.executable).parent / "mf")

# What the issue asks the semantic layer to define, by metric name.
REQUIRED_METRICS = {
    "nps",
    "csat",
    "ces",
    "churn_rate",
    "retention_rate",
    "average_clv",
    "average_resolution_minutes",
    "median_resolution_minutes",
    "engagement_rate",
    "conversion_rate",
}
MONTHLY = (
    "nps",
    "nps_responses",
    "churn_rate",
    "retention_rate",
    "median_resolution_minutes",
    "average_resolution_minutes",
    "tickets_solved",
    "conversion_rate",
)
OVERALL = ("nps", "csat", "csat_responses", "ces", "engagement_rate", "conversion_rate", "average_clv")


@pytest.fixture(scope="module")
def mf_env(
    demo_night: tuple[Paths, dg.ExecuteInProcessResult], tmp_path_factory: pytest.TempPathFactory
) -> dict:
    """The environment `mf` runs in: dbt's profile over a copy of the demo night's build database.

    A copy, so that MetricFlow's read-write connection never holds a lock on the shared build database.
    The copy keeps the file name: the semantic manifest names the database (catalog) after it."""
    paths, result = demo_night
    assert result.success
    build_db = tmp_path_factory.mktemp("semantic") / paths.build_db.name
    shutil.copyfile(paths.build_db, build_db)
    return {
        **os.environ,
        "CX_BUILD_DB": str(build_db),
        "CX_LAKE_DIR": str(paths.lake),
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
    }


def mf(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MF, *args], cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)


def mf_query(env: dict, out: Path, metrics: tuple[str, ...], group_by: str | None = None) -> pd.DataFrame:
    args = ["query", "--metrics", ",".join(metrics), "--csv", str(out), "--quiet"]
    if group_by:
        args += ["--group-by", group_by]
    done = mf(env, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return pd.read_csv(out)


@pytest.fixture(scope="module")
def monthly(mf_env: dict, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Every monthly metric in one MetricFlow query, by month."""
    out = tmp_path_factory.mktemp("mf") / "monthly.csv"
    frame = mf_query(mf_env, out, MONTHLY, "metric_time__month")
    frame["month"] = pd.to_datetime(frame["metric_time__month"])
    return frame.set_index("month")


@pytest.fixture(scope="module")
def overall(mf_env: dict, tmp_path_factory: pytest.TempPathFactory) -> pd.Series:
    """The metrics over the whole history, in one MetricFlow query."""
    out = tmp_path_factory.mktemp("mf") / "overall.csv"
    frame = mf_query(mf_env, out, OVERALL)
    assert len(frame) == 1
    return frame.iloc[0]


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.execute(sql).df()


def test_the_semantic_manifest_defines_every_metric_of_the_issue() -> None:
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "semantic_manifest.json").read_text())
    metrics = {m["name"]: m for m in manifest["metrics"]}
    assert metrics.keys() >= REQUIRED_METRICS
    nps = metrics["nps"]["type_params"]
    assert {m["name"] for m in nps["metrics"]} == {"nps_promoters", "nps_detractors", "nps_responses"}
    # churn and retention read the rows for all customers, not the sum over every segmentation
    for name in ("lost_customers", "customers_at_start", "customers_at_end", "new_customers"):
        (where,) = metrics[name]["filter"]["where_filters"]
        assert where["where_sql_template"] == "{{ Dimension('churn_month__segment_type') }} = 'all'"
    spines = manifest["project_configuration"]["time_spines"]
    assert [s["node_relation"]["alias"] for s in spines] == ["dim_dates"]


def test_mf_validates_the_configs_against_the_build_database(mf_env: dict) -> None:
    done = mf(mf_env, "validate-configs")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ERRORS: 0" in done.stdout


def test_nps_by_month_is_the_marts_and_the_definitions(
    monthly: pd.DataFrame, demo_db: duckdb.DuckDBPyConnection
) -> None:
    # by hand from the scores: promoters 9-10, detractors 0-6 (both edges included)
    counted = rows(
        demo_db,
        """
        select date_trunc('month', responded_at)::date as month,
            count(*) as responses,
            100.0 * (count(*) filter (where score between 9 and 10) - count(*) filter (where score between 0 and 6))
                / count(*) as nps
        from marts.fct_survey_responses where survey_type = 'NPS' group by 1
        """,
    ).set_index("month")
    mart = rows(
        demo_db,
        """
        select month_start as month, responses, score from marts.mart_cx_scores
        where survey_type = 'NPS' and month_start is not null and totals_over = 'touchpoint,channel,customer_segment'
        """,
    ).set_index("month")
    semantic = monthly.loc[monthly["nps_responses"].notna() & (monthly["nps_responses"] > 0)]
    assert len(counted) >= 12
    assert sorted(semantic.index) == sorted(counted.index) == sorted(mart.index)
    for month in counted.index:
        assert (
            semantic.at[month, "nps_responses"]
            == counted.at[month, "responses"]
            == mart.at[month, "responses"]
        )
        assert semantic.at[month, "nps"] == mart.at[month, "score"], month
        assert abs(semantic.at[month, "nps"] - counted.at[month, "nps"]) <= 0.05, month


def test_csat_ces_and_nps_overall_are_the_marts_and_the_definitions(
    overall: pd.Series, demo_db: duckdb.DuckDBPyConnection
) -> None:
    counted = rows(
        demo_db,
        """
        select survey_type, count(*) as responses,
            100.0 * count(*) filter (where score >= 4) / count(*) as share_4_or_5,
            100.0 * (count(*) filter (where score >= 9) - count(*) filter (where score <= 6)) / count(*) as nps
        from marts.fct_survey_responses group by 1
        """,
    ).set_index("survey_type")
    mart = rows(
        demo_db,
        "select survey_type, responses, score from marts.mart_cx_scores "
        "where totals_over = 'month,touchpoint,channel,customer_segment'",
    ).set_index("survey_type")
    assert overall["csat_responses"] == counted.at["CSAT", "responses"] == mart.at["CSAT", "responses"] > 100
    assert overall["csat"] == mart.at["CSAT", "score"]
    assert abs(overall["csat"] - counted.at["CSAT", "share_4_or_5"]) <= 0.5
    assert overall["ces"] == mart.at["CES", "score"]
    assert abs(overall["ces"] - counted.at["CES", "share_4_or_5"]) <= 0.05
    assert overall["nps"] == mart.at["NPS", "score"]
    assert abs(overall["nps"] - counted.at["NPS", "nps"]) <= 0.05


def test_churn_and_retention_by_month_are_the_marts_and_the_definitions(
    monthly: pd.DataFrame, demo_db: duckdb.DuckDBPyConnection, mf_env: dict
) -> None:
    # Counted customer by customer from the active periods: at the start of the month, at its end
    # (the as-of moment for the as-of month), and new = began in the month without being active
    # at its start; lost = start + new - end (DOMAIN.md).
    # The intermediate models are in the build database only; closed again before `mf` needs it.
    with duckdb.connect(mf_env["CX_BUILD_DB"], read_only=True) as build_db:
        periods = rows(
            build_db, "select customer_id, started_at, ended_at from intermediate.int_active_periods_derived"
        )
        as_of = pd.Timestamp(
            build_db.execute("select as_of_at from intermediate.int_as_of_dates_derived").fetchone()[0]
        )
    ended = periods["ended_at"].fillna(pd.Timestamp.max)
    counted = {}
    month = periods["started_at"].min().to_period("M").to_timestamp()
    while month < as_of:  # the as-of moment ends the last month
        month_end = min(month + pd.offsets.MonthBegin(1), as_of)
        at_start = set(periods.loc[(periods["started_at"] < month) & (ended > month), "customer_id"])
        at_end = set(periods.loc[(periods["started_at"] < month_end) & (ended > month_end), "customer_id"])
        began = set(
            periods.loc[(periods["started_at"] >= month) & (periods["started_at"] < month_end), "customer_id"]
        )
        new = began - at_start
        if at_start:
            lost = len(at_start) + len(new) - len(at_end)
            counted[month] = (
                100 * lost / len(at_start),
                100 * (len(at_end) - len(new)) / len(at_start),
            )
        month += pd.offsets.MonthBegin(1)
    mart = rows(
        demo_db,
        "select month_start as month, churn_rate_pct, retention_rate_pct from marts.mart_churn_monthly "
        "where segment_type = 'all' and churn_rate_pct is not null",
    ).set_index("month")
    semantic = monthly.loc[monthly["churn_rate"].notna()]
    assert len(counted) >= 11
    assert sorted(semantic.index) == sorted(mart.index) == sorted(counted)
    for month, (churn, retention) in counted.items():
        assert semantic.at[month, "churn_rate"] == mart.at[month, "churn_rate_pct"], month
        assert semantic.at[month, "retention_rate"] == mart.at[month, "retention_rate_pct"], month
        assert abs(semantic.at[month, "churn_rate"] - churn) <= 0.05, month
        assert abs(semantic.at[month, "retention_rate"] - retention) <= 0.05, month


def test_average_clv_is_the_marts_and_the_revenue_to_date(
    overall: pd.Series, demo_db: duckdb.DuckDBPyConnection
) -> None:
    # historical CLV = revenue to date: every purchase (not the cancels) of each customer who bought
    counted = demo_db.execute(
        "select avg(revenue) from (select customer_id, sum(amount) as revenue from marts.fct_orders "
        "where order_type != 'cancel' group by customer_id)"
    ).fetchone()[0]
    mart = demo_db.execute("select avg(historical_clv) from marts.mart_customer_clv").fetchone()[0]
    assert overall["average_clv"] == pytest.approx(mart, rel=1e-9)
    assert overall["average_clv"] == pytest.approx(counted, rel=1e-9)
    assert counted > 0


def test_resolution_time_by_month_is_the_marts_and_the_definitions(
    monthly: pd.DataFrame, demo_db: duckdb.DuckDBPyConnection
) -> None:
    # customer tickets solved (and still solved), in the month of the final solve
    tickets = rows(
        demo_db,
        "select date_trunc('month', resolved_at)::date as month, full_resolution_minutes "
        "from marts.fct_support_tickets where not is_outbound and resolved_at is not null",
    )
    by_month = tickets.groupby("month")["full_resolution_minutes"]
    counted = pd.DataFrame(
        {"solved": by_month.size(), "median": by_month.median(), "average": by_month.mean()}
    )
    mart = rows(
        demo_db,
        """
        select period_start as month, tickets_solved, median_full_resolution_minutes, average_full_resolution_minutes
        from marts.mart_support_performance
        where period_type = 'month' and totals_over = 'channel,priority,customer_segment' and tickets_solved > 0
        """,
    ).set_index("month")
    semantic = monthly.loc[monthly["tickets_solved"].notna() & (monthly["tickets_solved"] > 0)]
    assert len(counted) >= 12
    assert sorted(semantic.index) == sorted(mart.index) == sorted(counted.index)
    for month in counted.index:
        assert (
            semantic.at[month, "tickets_solved"]
            == mart.at[month, "tickets_solved"]
            == counted.at[month, "solved"]
        )
        # the mart rounds its median to one decimal
        assert (
            abs(
                semantic.at[month, "median_resolution_minutes"]
                - mart.at[month, "median_full_resolution_minutes"]
            )
            <= 0.05
        )
        assert semantic.at[month, "median_resolution_minutes"] == pytest.approx(counted.at[month, "median"])
        assert (
            semantic.at[month, "average_resolution_minutes"]
            == mart.at[month, "average_full_resolution_minutes"]
        )
        assert abs(semantic.at[month, "average_resolution_minutes"] - counted.at[month, "average"]) <= 0.05


def test_web_rates_are_the_marts_and_the_definitions(
    monthly: pd.DataFrame, overall: pd.Series, demo_db: duckdb.DuckDBPyConnection
) -> None:
    # converted: a purchase or a sign-up; engaged: longer than 10 s, converted, or 2+ page views
    counted = rows(
        demo_db,
        """
        select date_trunc('month', started_at)::date as month, count(*) as sessions,
            count(*) filter (where has_purchase or has_sign_up) as converted,
            count(*) filter (where engagement_seconds > 10 or has_purchase or has_sign_up or page_views >= 2) as engaged
        from marts.fct_web_sessions group by rollup (1)
        """,
    )
    total = counted.loc[counted["month"].isna()].iloc[0]
    counted = counted.loc[counted["month"].notna()].set_index("month")
    mart = rows(
        demo_db,
        "select period_type, period_start as month, conversion_rate, engagement_rate from marts.mart_web_engagement "
        "where period_type in ('month', 'all') and channel_group = 'all' and device = 'all'",
    )
    mart_total = mart.loc[mart["period_type"] == "all"].iloc[0]
    mart = mart.loc[mart["period_type"] == "month"].set_index("month")

    assert overall["conversion_rate"] == mart_total["conversion_rate"]
    assert overall["engagement_rate"] == mart_total["engagement_rate"]
    assert abs(overall["conversion_rate"] - total["converted"] / total["sessions"]) <= 0.00005
    assert abs(overall["engagement_rate"] - total["engaged"] / total["sessions"]) <= 0.00005
    semantic = monthly.loc[monthly["conversion_rate"].notna()]
    assert len(counted) >= 12
    assert sorted(semantic.index) == sorted(mart.index) == sorted(counted.index)
    for month in counted.index:
        assert semantic.at[month, "conversion_rate"] == mart.at[month, "conversion_rate"], month
        share = counted.at[month, "converted"] / counted.at[month, "sessions"]
        assert abs(semantic.at[month, "conversion_rate"] - share) <= 0.00005, month


def test_nps_by_customer_plan_joins_the_customers(
    mf_env: dict, tmp_path: Path, demo_db: duckdb.DuckDBPyConnection
) -> None:
    # The customer entity joins responses to dim_customers: the cut mart_cx_scores calls customer_segment.
    semantic = mf_query(mf_env, tmp_path / "by_plan.csv", ("nps", "nps_responses"), "customer__plan")
    semantic = semantic.loc[semantic["customer__plan"].notna()].set_index("customer__plan")
    mart = rows(
        demo_db,
        "select customer_segment as plan, responses, score from marts.mart_cx_scores "
        "where survey_type = 'NPS' and totals_over = 'month,touchpoint,channel' "
        "and customer_segment not in ('anonymous', 'unknown')",
    ).set_index("plan")
    assert len(mart) >= 2
    assert sorted(semantic.index) == sorted(mart.index)
    for plan in mart.index:
        assert semantic.at[plan, "nps_responses"] == mart.at[plan, "responses"]
        assert semantic.at[plan, "nps"] == mart.at[plan, "score"], plan
