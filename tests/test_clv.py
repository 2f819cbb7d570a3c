"""Customer lifetime value: the BG/NBD and Gamma-Gamma fits reproduce the published CDNOW results.

Reference: Fader, Hardie & Lee (2005), "Counting your customers the easy way" (BG/NBD on the CDNOW
sample: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4) and "RFM and CLV" (Gamma-Gamma
on its 946 repeat buyers: p = 6.25, q = 3.74, gamma = 15.44). The fixtures in `fixtures/cdnow/` are
the raw CDNOW sample transactions and the published per-customer summary.

The end-to-end test feeds the raw transactions through the path a company's data takes: CRM
extract files -> landing -> `dbt build` -> the summary model and the fitted-model mart.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from collections import defaultdict
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import ModuleType, SimpleNamespace

import duckdb
import numpy as np
import pytest

from ingestion.contracts import BY_NAME
from ingestion.landing import land_source
from ingestion.settings import DBT_PROJECT_DIR, Paths

# The library lives with the dbt project, whose Python models import it from lib/ the same way.
sys.path.insert(0, str(DBT_PROJECT_DIR / "lib"))
import lifetime_value as lv

FIXTURES = Path(__file__).parent / "fixtures" / "cdnow"
DBT = Path(sys.executable).parent / "dbt"
CALIBRATION_END = "1997-09-30"

PUBLISHED_BG_NBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LOG_LIKELIHOOD = -9582.4
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}
PUBLISHED_FIT = lv.BgNbdFit(**PUBLISHED_BG_NBD, log_likelihood=None, n=0, converged=True)


@pytest.fixture(scope="module")
def summary() -> dict[str, np.ndarray]:
    """The published summary: ID, x, t_x, T, zbar per customer."""
    with (FIXTURES / "cdnow_customers_summary_with_transactions.csv").open() as f:
        rows = list(csv.DictReader(f))
    return {column: np.array([float(row[column]) for row in rows]) for column in rows[0]}


def assert_close(actual: dict[str, float], expected: dict[str, float], rel: float = 0.005) -> None:
    for name, value in expected.items():
        assert actual[name] == pytest.approx(value, rel=rel), name


# --- fits on the published summary ----------------------------------------------------------------


def test_bg_nbd_fit_reproduces_the_paper(summary) -> None:
    fit = lv.fit_bg_nbd(summary["x"], summary["t_x"], summary["T"])
    assert fit.converged and fit.n == 2357
    assert_close(vars(fit), PUBLISHED_BG_NBD)
    assert fit.log_likelihood == pytest.approx(PUBLISHED_LOG_LIKELIHOOD, abs=0.1)
    per_customer = lv.bg_nbd_log_likelihood(
        fit.r, fit.alpha, fit.a, fit.b, summary["x"], summary["t_x"], summary["T"]
    )
    assert per_customer.sum() == pytest.approx(fit.log_likelihood)


def test_gamma_gamma_fit_reproduces_the_paper(summary) -> None:
    fit = lv.fit_gamma_gamma(summary["x"], summary["zbar"])
    assert fit.converged and fit.n == 946
    assert_close(vars(fit), PUBLISHED_GAMMA_GAMMA)


def test_degenerate_samples_do_not_converge() -> None:
    nobody_repeats = lv.fit_bg_nbd(np.zeros(50), np.zeros(50), np.full(50, 30.0))
    assert not nobody_repeats.converged and nobody_repeats.r is None and nobody_repeats.n == 50
    assert not lv.fit_bg_nbd([1, 2], [3.0, 4.0], [5.0, 6.0]).converged
    assert not lv.fit_bg_nbd([], [], []).converged
    one_time_buyers = lv.fit_gamma_gamma(np.zeros(50), np.zeros(50))
    assert not one_time_buyers.converged and one_time_buyers.n == 0 and one_time_buyers.p is None


# --- formulas, checked against values derived independently ---------------------------------------


def test_bg_nbd_log_likelihood_of_a_one_time_buyer() -> None:
    # x = 0: L = B(a, b)/B(a, b) * (alpha / (alpha + T))^r
    r, alpha, a, b, T = 0.5, 2.0, 1.5, 3.0, 10.0
    expected = r * np.log(alpha / (alpha + T))
    assert lv.bg_nbd_log_likelihood(r, alpha, a, b, [0], [0.0], [T])[0] == pytest.approx(expected)


def test_probability_alive() -> None:
    # No repeat purchase: the BG/NBD customer cannot have dropped out yet.
    assert lv.probability_alive(PUBLISHED_FIT, [0], [0.0], [38.86])[0] == 1.0
    # x = 1, t_x = 0, T = 10, with r = 1, alpha = 10, a = 1, b = 1:
    # odds = a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x) = 1 * 2^2 = 4 -> 1 / 5
    fit = lv.BgNbdFit(r=1.0, alpha=10.0, a=1.0, b=1.0, log_likelihood=None, n=0, converged=True)
    assert lv.probability_alive(fit, [1], [0.0], [10.0])[0] == pytest.approx(0.2)
    # A purchase at the very end of the calibration period: only the dropout coin flip after it
    # remains, P = (b + x - 1) / (a + b + x - 1) = 3 / 4.
    assert lv.probability_alive(fit, [3], [10.0], [10.0])[0] == pytest.approx(0.75)


def test_conditional_expectation_matches_the_papers_worked_example() -> None:
    # FHL (2005), section 5: customer with x = 2, t_x = 30.43, T = 38.86 -> E[Y(39)] = 1.226.
    assert lv.expected_purchases(PUBLISHED_FIT, 39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=0.0005)
    assert lv.expected_purchases(PUBLISHED_FIT, 0, 2, 30.43, 38.86) == pytest.approx(0.0)


def test_gamma_gamma_expected_spend() -> None:
    fit = lv.GammaGammaFit(p=6.25, q=3.74, gamma=15.44, log_likelihood=None, n=0, converged=True)
    # p (gamma + x zbar) / (p x + q - 1) = 6.25 * (15.44 + 2 * 22.35) / (12.5 + 2.74) = 375.875 / 15.24
    spend = lv.expected_average_spend(fit, [2, 0], [22.35, 0.0])
    assert spend[0] == pytest.approx(375.875 / 15.24)
    # no repeat purchase: the population mean p gamma / (q - 1) = 96.5 / 2.74
    assert spend[1] == pytest.approx(96.5 / 2.74)


def test_discounting_a_constant_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    # A customer expected to buy at a constant rate: every month brings the same expected value,
    # so the discounted sum is an annuity with the monthly rate equivalent to 10% a year.
    weekly_purchases, spend = 0.5, 20.0
    monkeypatch.setattr(lv, "expected_purchases", lambda fit, t, x, t_x, T: weekly_purchases * np.asarray(t))
    monthly = weekly_purchases * (365.25 / 12 / 7) * spend
    d = 1.1 ** (1 / 12) - 1
    annuity = monthly * (1 - (1 + d) ** -12) / d
    value = lv.discounted_expected_value(PUBLISHED_FIT, [spend], [0], [0.0], [0.0], 12, 0.10)
    assert value[0] == pytest.approx(annuity)
    # the twelfth month is discounted by exactly one year's rate
    assert (1 + d) ** 12 == pytest.approx(1.1)


def test_undiscounted_value_is_expected_purchases_times_spend() -> None:
    # with no discounting the monthly increments telescope to E[Y(12 months)] * spend
    x, t_x, T = [0, 2, 7], [0.0, 30.43, 35.0], [38.86, 38.86, 36.0]
    spend = np.array([30.0, 25.0, 40.0])
    expected = lv.expected_purchases(PUBLISHED_FIT, 12 * 365.25 / 12 / 7, x, t_x, T) * spend
    value = lv.discounted_expected_value(PUBLISHED_FIT, spend, x, t_x, T, 12, 0.0)
    np.testing.assert_allclose(value, expected, rtol=1e-12)


# --- the dbt Python models, run on an in-memory DuckDB -----------------------------------------------


def load_dbt_model(name: str) -> ModuleType:
    path = DBT_PROJECT_DIR / "models" / "marts" / "clv" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeDbt:
    """What a dbt-duckdb Python model uses of its `dbt` argument: ref() gives a DuckDB relation."""

    def __init__(self, con: duckdb.DuckDBPyConnection, meta: dict) -> None:
        self.con = con
        self.config = SimpleNamespace(meta_get=lambda key, default=None: meta.get(key, default))

    def ref(self, name: str) -> duckdb.DuckDBPyRelation:
        return self.con.table(name)


def test_customer_mart_without_a_fit_keeps_historical_value() -> None:
    # Nobody bought twice: neither model can be fitted, yet the marts build with null predictions.
    con = duckdb.connect()
    con.execute(
        "create table fct_orders as select * from (values"
        " ('c1', 10.00::decimal(18,2), true), ('c1', 5.00, true), ('c2', 0.00, false), ('c2', 7.50, true))"
        " t(customer_id, amount, is_purchase)"
    )
    con.execute(
        "create table int_purchase_histories_summarized as select customer_id, date '2024-03-31'"
        " as calibration_end_date, 0 as frequency, 0.0 as recency_weeks, 4.0 as tenure_weeks,"
        " 0.0 as average_repeat_value from (values ('c1'), ('c2')) t(customer_id)"
    )
    dbt = FakeDbt(con, {"clv_horizon_months": 12, "clv_annual_discount_rate": 0.1})
    fits = load_dbt_model("mart_clv_model").model(dbt, con)
    con.register("fits", fits)
    con.execute("create table mart_clv_model as select * from fits")
    assert con.execute(
        "select model_name, is_converged, sample_size, r, p, log_likelihood, fitted_on"
        " from mart_clv_model order by model_name"
    ).fetchall() == [
        ("bg_nbd", False, 2, None, None, None, date(2024, 3, 31)),
        ("gamma_gamma", False, 0, None, None, None, date(2024, 3, 31)),
    ]
    customers = load_dbt_model("mart_customer_clv").model(dbt, con)
    con.register("customers", customers)
    assert con.execute(
        "select customer_id, historical_clv, probability_alive, expected_purchases_12m,"
        " expected_average_order_value, predicted_clv_12m from customers order by customer_id"
    ).fetchall() == [("c1", 15.0, None, None, None, None), ("c2", 7.5, None, None, None, None)]


# --- end to end: CRM extracts -> landing -> dbt ----------------------------------------------------


def write_extracts(extracts: Path) -> int:
    """The CDNOW sample as a CRM would send it: one orders file per day, customers on signup day."""
    orders_by_day: dict[str, list[list[str]]] = defaultdict(list)
    first_purchase: dict[str, str] = {}
    with (FIXTURES / "CDNOW_sample.txt").open() as f:
        for line_number, line in enumerate(f, start=1):
            _master_id, cdnow_id, yyyymmdd, cds, dollars = line.split()
            customer_id = str(int(cdnow_id))  # the summary's ID
            day = datetime.strptime(yyyymmdd, "%Y%m%d").date().isoformat()
            orders_by_day[day].append(
                [f"cdnow-{line_number}", customer_id, f"{day} 12:00:00", "one_off", "", cds, dollars, "USD"]
            )
            first_purchase[customer_id] = min(day, first_purchase.get(customer_id, day))

    orders, customers = BY_NAME["crm.orders"], BY_NAME["crm.customers"]
    for day, rows in orders_by_day.items():
        write_csv(orders.folder(extracts) / orders.file_name(day), orders.column_names, rows)
    signups: dict[str, list[list[str]]] = defaultdict(list)
    for customer_id, day in first_purchase.items():
        signups[day].append(
            [
                customer_id if c == "customer_id" else f"{day} 12:00:00" if c.endswith("_at") else ""
                for c in customers.column_names
            ]
        )
    for day, rows in signups.items():
        write_csv(customers.folder(extracts) / customers.file_name(day), customers.column_names, rows)
    return len(orders_by_day) + len(signups)


def write_csv(path: Path, header: tuple[str, ...], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture(scope="module")
def cdnow_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("clv")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("CX_EXTRACTS_DIR", "CX_LAKE_DIR", "CX_QUARANTINE_DIR", "CX_BUILD_DB", "CX_SERVING_DB"):
            mp.delenv(var, raising=False)
        mp.setenv("CX_WAREHOUSE_DIR", str(tmp / "warehouse"))
        paths = Paths.from_env()
        files = write_extracts(paths.extracts)
        report = land_source(paths, "crm")
    assert not report.errors and report.totals()["files_landed"] == files
    assert report.totals()["rows_quarantined"] == 0

    result = subprocess.run(
        [
            str(DBT),
            "build",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(tmp / "target"),
            "--log-path",
            str(tmp / "logs"),
            "--select",
            "+mart_customer_clv",
            "+mart_clv_model",
            # only tests of the selected models: the default (eager) also picks the relationships
            # tests of stg_crm__orders and others, whose other parents are not built here
            "--indirect-selection",
            "cautious",
            "--vars",
            json.dumps({"clv_calibration_end": CALIBRATION_END}),
        ],
        # from the project folder, as the Makefile and Dagster run it: profiles.yml's
        # `module_paths: ["lib"]` (for `import lifetime_value`) is relative to the working folder
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, **paths.dbt_env()},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    statuses = {
        r["unique_id"]: r["status"]
        for r in json.loads((tmp / "target" / "run_results.json").read_text())["results"]
    }
    failed = {node: status for node, status in statuses.items() if status not in ("success", "pass")}
    assert not failed, failed
    return paths.build_db


@pytest.fixture(scope="module")
def warehouse_db(cdnow_build: Path):
    con = duckdb.connect(str(cdnow_build), read_only=True)
    yield con
    con.close()


def round_half_up(value: float) -> float:
    """Round to cents as the published summary does: its exact means such as 35.175 round up,
    whereas the nearest double (35.17499...) would round down."""
    return float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def test_summary_model_reproduces_the_published_summary(warehouse_db, summary) -> None:
    rows = warehouse_db.execute(
        "select customer_id::integer, frequency, recency_weeks, tenure_weeks, average_repeat_value"
        " from intermediate.int_purchase_histories_summarized order by customer_id::integer"
    ).fetchall()
    built = [
        (float(cid), float(x), *map(round_half_up, weeks_and_spend)) for cid, x, *weeks_and_spend in rows
    ]
    published = list(zip(*(summary[c] for c in ("ID", "x", "t_x", "T", "zbar")), strict=True))
    assert len(built) == len(published) == 2357
    assert built == published
    calibration_ends = warehouse_db.execute(
        "select distinct calibration_end_date from intermediate.int_purchase_histories_summarized"
    ).fetchall()
    assert calibration_ends == [(date.fromisoformat(CALIBRATION_END),)]


def test_clv_model_mart_reproduces_the_paper(warehouse_db) -> None:
    cursor = warehouse_db.execute("select * from marts.mart_clv_model order by model_name")
    names = [d[0] for d in cursor.description]
    fits = {row["model_name"]: row for row in (dict(zip(names, r, strict=True)) for r in cursor.fetchall())}
    assert set(fits) == {"bg_nbd", "gamma_gamma"}
    bg_nbd, gamma_gamma = fits["bg_nbd"], fits["gamma_gamma"]
    assert bg_nbd["is_converged"] and gamma_gamma["is_converged"]
    assert_close(bg_nbd, PUBLISHED_BG_NBD)
    assert bg_nbd["log_likelihood"] == pytest.approx(PUBLISHED_LOG_LIKELIHOOD, abs=0.1)
    assert_close(gamma_gamma, PUBLISHED_GAMMA_GAMMA)
    assert (bg_nbd["sample_size"], gamma_gamma["sample_size"]) == (2357, 946)
    assert bg_nbd["p"] is None and gamma_gamma["r"] is None
    assert bg_nbd["fitted_on"] == bg_nbd["calibration_end_date"] == date.fromisoformat(CALIBRATION_END)


def test_customer_clv_mart(warehouse_db) -> None:
    # customer 1 (x = 2, t_x = 30.43, T = 38.86) is the paper's worked example
    row = warehouse_db.execute(
        "select historical_clv, probability_alive, expected_purchases_12m, expected_average_order_value,"
        " predicted_clv_12m from marts.mart_customer_clv where customer_id = '1'"
    ).fetchone()
    historical, alive, purchases, spend, predicted = row
    # all four purchases, including the one after the calibration end (1997-12-12)
    assert historical == pytest.approx(29.33 + 29.73 + 14.96 + 26.48)
    assert 0 < alive < 1
    assert 0 < predicted < purchases * spend
    count, nulls = warehouse_db.execute(
        "select count(*), count(*) filter (where predicted_clv_12m is null) from marts.mart_customer_clv"
    ).fetchone()
    assert (count, nulls) == (2357, 0)
