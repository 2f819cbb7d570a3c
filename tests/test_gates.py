"""The gates hold: a failing dbt test blocks everything downstream and the serving database stays.

A row that slipped past the landing gate (written straight into the lake, as a bug or a manual fix
might) must still be stopped by dbt's error-severity tests: the run fails, no mart or Python asset
downstream is built, yesterday's serving database is left as it was, and the run record says why.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import duckdb
import pytest

from ingestion.settings import Paths
from tests.conftest import demo_warehouse, run_nightly
from tests.test_nightly import mart_digests

SMALL_DEMO = ("--customers", "120", "--days", "40", "--seed", "4")


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Paths]:
    """A small warehouse after one good night."""
    with demo_warehouse(tmp_path_factory.mktemp("gates") / "warehouse", SMALL_DEMO) as paths:
        assert run_nightly().success
        yield paths


def plant_bad_score(paths: Paths) -> None:
    """Write a lake file by hand (bypassing landing and its gate) with an NPS score of 42."""
    folder = paths.lake / "surveys" / "responses"
    source = next(p for p in sorted(folder.glob("responses_*.parquet")))
    target = folder / "responses_2099-01-01.parquet"
    with duckdb.connect() as con:
        con.execute(
            # landed now, as far as the incremental staging can tell
            "copy (select * replace ('bad_1' as response_id, 'NPS' as survey_type, 42 as score, "
            "now() at time zone 'UTC' as _loaded_at) "
            f"from read_parquet('{source}') limit 1) to '{target}' (format parquet)"
        )


def test_a_failing_dbt_test_blocks_everything_downstream(published: Paths) -> None:
    paths = published
    before = mart_digests(paths.serving_db)
    plant_bad_score(paths)
    result: dg.ExecuteInProcessResult = run_nightly()

    assert not result.success
    steps = {e.step_key: e.event_type_value for e in result.all_events if e.is_step_event and e.step_key}
    assert steps["cx_dbt_models"] == "STEP_FAILURE"
    assert steps.get("serving_database") in (None, "STEP_SKIPPED")  # the Python asset never ran
    built = {m.asset_key.path[-1] for m in result.asset_materializations_for_node("cx_dbt_models")}
    # Staging of other entities built; the responses' downstream, the Python CLV models included, did not.
    assert "stg_crm__orders" in built
    assert not built & {"fct_survey_responses", "mart_cx_scores", "dim_customers", "mart_clv_model"}
    assert mart_digests(paths.serving_db) == before  # yesterday's marts, untouched

    con = duckdb.connect(str(paths.serving_db), read_only=True)
    try:
        status, failure = con.execute(
            "select status, failure from ops.runs where run_id = ?", [result.run_id]
        ).fetchone()
        failed_tests = con.execute(
            "select unique_id from ops.dbt_test_results where run_id = ? and status = 'fail'", [result.run_id]
        ).fetchall()
    finally:
        con.close()
    assert status == "failed" and "cx_dbt_models" in failure
    assert any("score_nps_range" in t for (t,) in failed_tests)


def test_a_rejected_file_fails_its_source_and_is_moved_aside(published: Paths) -> None:
    paths = published
    (paths.lake / "surveys" / "responses" / "responses_2099-01-01.parquet").unlink(missing_ok=True)
    before = mart_digests(paths.serving_db)
    bad = paths.extracts / "crm" / "orders" / "orders_2025-06-01.csv"
    bad.write_text("order_id,customer_id\no1,c1\n")  # required columns missing
    result = run_nightly()

    assert not result.success
    assert not bad.exists()
    assert (paths.rejected / "crm" / "orders" / "orders_2025-06-01.csv").exists()
    reason = (paths.rejected / "crm" / "orders" / "orders_2025-06-01.csv.reason.json").read_text()
    assert "missing columns" in reason
    assert mart_digests(paths.serving_db) == before
    con = duckdb.connect(str(paths.serving_db), read_only=True)
    try:
        rejected = con.execute(
            "select file, rule from ops.file_loads where run_id = ? and status = 'rejected'", [result.run_id]
        ).fetchall()
    finally:
        con.close()
    assert rejected == [("crm/orders/orders_2025-06-01.csv", "missing columns")]
    # With the bad file gone, the next night recovers by itself.
    assert run_nightly().success


def test_an_erasure_request_removes_a_person_from_the_next_night(published: Paths) -> None:
    paths = published
    with duckdb.connect(str(paths.serving_db), read_only=True) as con:
        (customer,) = con.execute(
            "select customer_id from marts.dim_customers where orders > 1 and tickets > 0 order by 1 limit 1"
        ).fetchone()
    requests = paths.extracts / "privacy" / "erasure_requests"
    requests.mkdir(parents=True, exist_ok=True)
    (requests / "erasure_requests_2099-03-01.csv").write_text(
        f"request_id,customer_id,email,requested_at\nreq-1,{customer},,2099-03-01T09:00:00Z\n"
    )
    result = run_nightly()
    assert result.success
    with duckdb.connect(str(paths.serving_db), read_only=True) as con:
        for table in (
            "dim_customers",
            "fct_orders",
            "fct_touchpoints",
            "fct_support_tickets",
            "mart_customer_clv",
        ):
            found = con.execute(
                f"select count(*) from marts.{table} where customer_id = ?", [customer]
            ).fetchone()
            assert found == (0,), table
        erased = con.execute(
            "select request_id, rows_removed from ops.erasures where run_id = ?", [result.run_id]
        ).fetchall()
    assert len(erased) == 1 and erased[0][0] == "req-1" and erased[0][1] > 0
    with duckdb.connect() as con:
        in_lake = con.execute(
            f"select count(*) from read_parquet('{paths.lake}/crm/orders/*.parquet') where customer_id = ?",
            [customer],
        ).fetchone()
    assert in_lake == (0,)
