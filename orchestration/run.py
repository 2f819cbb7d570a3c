"""`python -m orchestration.run [--day D | --from D1 --to D2]`: run the nightly job once, print what it built.

Without dates it runs over the extract dates of the files waiting to land (one single-run backfill
from the first to the last of them), or, when none wait, the partition of the day that last ended,
as the schedule does.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date

import dagster as dg
import duckdb

from ingestion.landing import pending_files
from ingestion.settings import Paths
from orchestration.definitions import defs
from orchestration.partitions import daily, range_tags
from orchestration.report_assets import DOCS_PAGE, REPORT_PAGE


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
                if score is not None:
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


def days_to_run(paths: Paths) -> tuple[date, date]:
    """The extract dates of the files waiting to land, first and last; else the day that last ended.

    Files dated before the first partition are included (landing rejects them with the reason);
    files of a day not over yet wait for its partition.
    """
    first_day = date.fromisoformat(daily.get_first_partition_key())
    last_day = date.fromisoformat(daily.get_last_partition_key())
    dates = {max(ef.extract_date, first_day) for ef in pending_files(paths)}
    waiting = sorted(d for d in dates if d <= last_day)
    return (waiting[0], waiting[-1]) if waiting else (last_day, last_day)


def execute(
    instance: dg.DagsterInstance, days: tuple[date, date] | None = None, job: str = "nightly"
) -> dg.ExecuteInProcessResult:
    """Run the job in this process over the days first..last (inclusive; default: `days_to_run`)."""
    first, last = days or days_to_run(Paths.from_env())
    if first == last:
        return defs.resolve_job_def(job).execute_in_process(
            instance=instance, partition_key=first.isoformat(), raise_on_error=False
        )
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, tags=range_tags(first, last), raise_on_error=False
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--job", default="nightly")
    parser.add_argument("--day", type=date.fromisoformat, help="run the partition of this extract date")
    parser.add_argument(
        "--from", dest="first", type=date.fromisoformat, help="first extract date of a backfill"
    )
    parser.add_argument("--to", dest="last", type=date.fromisoformat, help="last extract date of a backfill")
    args = parser.parse_args(argv)
    if (args.day and (args.first or args.last)) or bool(args.first) != bool(args.last):
        parser.error("give --day, or both --from and --to, or neither")
    days = (args.day, args.day) if args.day else (args.first, args.last) if args.first else None
    paths = Paths.from_env()
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        result = execute(instance, days, args.job)
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
    print(f"CX report:     {(paths.root / REPORT_PAGE).as_uri()}")
    print(f"dbt docs site: {(paths.root / DOCS_PAGE).as_uri()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
