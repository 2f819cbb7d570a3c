"""`python -m orchestration.run`: run the nightly job once and print what it built."""

from __future__ import annotations

import argparse
import sys
import time

import dagster as dg
import duckdb

from ingestion.settings import Paths
from orchestration.definitions import defs


def headline(serving_db: str) -> list[tuple[str, int]]:
    """Rows per staging model in the serving database."""
    con = duckdb.connect(serving_db, read_only=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'staging' order by 1"
            ).fetchall()
        ]
        return [(n, con.execute(f'select count(*) from staging."{n}"').fetchone()[0]) for n in names]
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
        return 1
    print(f"\nThe {args.job} run succeeded in {elapsed:.0f} s.")
    print(f"Serving database: {paths.serving_db}")
    for name, rows in headline(str(paths.serving_db)):
        print(f"  staging.{name:<28} {rows:>12,} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
