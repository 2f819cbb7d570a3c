"""`python -m orchestration.run`: run the nightly job once and print what it built."""

from __future__ import annotations

import argparse
import sys
import time

import dagster as dg
import duckdb

from ingestion.settings import Paths
from orchestration.definitions import defs


def _counts(db: str, schema: str) -> list[tuple[str, int]]:
    with duckdb.connect(db, read_only=True) as con:
        tables = con.execute(
            "select schema_name || '.' || table_name from duckdb_tables() where schema_name = ? order by 1",
            [schema],
        ).fetchall()
        return [(t, con.execute(f"select count(*) from {t}").fetchone()[0]) for (t,) in tables]


def headline(paths: Paths) -> tuple[list[tuple[str, int]], list[str]]:
    """Rows per staging model (build database) and mart (serving database), and headline figures."""
    counts = _counts(str(paths.build_db), "staging") + _counts(str(paths.serving_db), "marts")
    con = duckdb.connect(str(paths.serving_db), read_only=True)
    try:
        figures = []
        if any(t == "marts.mart_cx_scores" for t, _ in counts):
            for survey, score, n in con.execute(
                "select survey_type, score, responses from marts.mart_cx_scores "
                "where totals_over = 'month,touchpoint,channel,customer_segment' order by 1 desc"
            ).fetchall():
                figures.append(f"{survey} {score:g} over {n:,} responses")
        if any(t == "marts.mart_churn_monthly" for t, _ in counts):
            row = con.execute(
                "select month_start, churn_rate_pct, customers_at_end from marts.mart_churn_monthly "
                "where segment_type = 'all' and not is_partial_month order by month_start desc limit 1"
            ).fetchone()
            if row:
                figures.append(f"churn {row[1]}% in {row[0]:%Y-%m}, {row[2]:,} active customers at its end")
        return counts, figures
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--job", default="nightly")
    args = parser.parse_args(argv)
    paths = Paths.from_env()
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_job_def(args.job).execute_in_process(instance=instance, raise_on_error=False)
    elapsed = time.monotonic() - started
    if not result.success:
        print(f"\nThe {args.job} run failed after {elapsed:.0f} s; the serving database was left as it was.")
        for event in result.all_events:
            if event.is_step_failure:
                print(f"  step {event.step_key} failed: {event.event_specific_data.error.message.strip()}")
        print(
            f"\nWhy, without a terminal: the ops tables of {paths.serving_db} (ops.run_summary, ops.file_loads, "
            f"ops.expectation_results, ops.dbt_test_results); rejected files and their reasons are in "
            f"{paths.rejected}, quarantined rows in {paths.quarantine}."
        )
        return 1
    print(f"\nThe {args.job} run succeeded in {elapsed:.0f} s.")
    print(f"Serving database: {paths.serving_db}")
    counts, figures = headline(paths)
    for name, rows in counts:
        print(f"  {name:<36} {rows:>12,} rows")
    for figure in figures:
        print(f"  {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
