"""The run record: what each nightly run read, landed, quarantined, rejected and tested.

Each step of a run writes its part as JSON under `<warehouse>/runs/<run_id>/` (the record survives
a failed run and a crash). Publishing, and the failure hook, turn every run's record into the `ops`
tables of the serving database, so an analyst can see why a run failed from a BI tool.
"""

import json
import os
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ingestion.landing import SourceReport
from ingestion.settings import Paths

OPS_TABLES = {
    "runs": ["run_id", "started_at", "finished_at", "status", "failure"],
    "file_loads": [
        "run_id",
        "source",
        "entity",
        "file",
        "status",
        "rows_read",
        "rows_landed",
        "rows_quarantined",
        "rule",
        "detail",
        "warnings",
    ],
    "expectation_results": [
        "run_id",
        "entity",
        "expectation",
        "column_name",
        "rule",
        "severity",
        "success",
        "element_count",
        "unexpected_count",
    ],
    "dbt_test_results": ["run_id", "unique_id", "status", "failures", "message"],
    "source_freshness": ["run_id", "source", "status", "max_loaded_at", "age_hours"],
    "erasures": ["run_id", "request_id", "requested_at", "identifiers", "rows_removed"],
}


def runs_dir(paths: Paths) -> Path:
    return paths.root / "runs"


def save(paths: Paths, run_id: str, part: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Write one step's rows (per ops table) for a run, atomically."""
    folder = runs_dir(paths) / run_id
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{part}.json"
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(rows, default=str, indent=1) + "\n")
    os.replace(tmp, target)


def landing_rows(run_id: str, report: SourceReport) -> dict[str, list[dict[str, Any]]]:
    loads = [
        {
            "run_id": run_id,
            "source": report.source,
            "entity": r.entity,
            "file": r.file,
            "status": r.status,
            "rows_read": r.rows_read,
            "rows_landed": r.rows_landed,
            "rows_quarantined": r.rows_quarantined,
            "rule": None,
            "detail": None,
            "warnings": "; ".join(r.warnings),
        }
        for r in report.results
        if r.status == "landed"
    ]
    loads += [
        {
            "run_id": run_id,
            "source": report.source,
            "entity": None,
            "file": e.file,
            "status": "rejected",
            "rows_read": None,
            "rows_landed": 0,
            "rows_quarantined": 0,
            "rule": e.rule,
            "detail": e.detail,
            "warnings": None,
        }
        for e in report.errors
    ]
    outcomes = [{"run_id": run_id, **_renamed(asdict(o))} for o in report.outcomes]
    return {"file_loads": loads, "expectation_results": outcomes}


def _renamed(outcome: dict[str, Any]) -> dict[str, Any]:
    outcome["column_name"] = outcome.pop("column")
    return outcome


def run_row(run_id: str, started_at: datetime, status: str, failure: str | None = None) -> dict[str, list]:
    return {
        "runs": [
            {
                "run_id": run_id,
                "started_at": started_at.isoformat(),
                "finished_at": datetime.now(UTC).replace(tzinfo=None).isoformat(),
                "status": status,
                "failure": failure,
            }
        ]
    }


def write_ops_tables(con: duckdb.DuckDBPyConnection, paths: Paths) -> None:
    """(Re)create the `ops` tables in `con` from every run's record."""
    rows: dict[str, list[dict[str, Any]]] = {table: [] for table in OPS_TABLES}
    for part in sorted(runs_dir(paths).glob("*/*.json")):
        for table, table_rows in json.loads(part.read_text()).items():
            rows[table] += table_rows
    con.execute("create schema if not exists ops")
    for table, columns in OPS_TABLES.items():
        con.register("frame", pd.DataFrame(rows[table], columns=columns).astype(object))
        con.execute(f"create or replace table ops.{table} as select * from frame")
        con.unregister("frame")
    con.execute(
        "create or replace table ops.runs as select run_id, cast(started_at as timestamp) as started_at, "
        "cast(finished_at as timestamp) as finished_at, status, failure from ops.runs"
    )
    con.execute(
        "create or replace view ops.run_summary as "
        "select r.run_id, r.started_at, r.finished_at, r.status, r.failure, "
        "count(f.file) filter (where f.status = 'landed') as files_landed, "
        "count(f.file) filter (where f.status = 'rejected') as files_rejected, "
        "coalesce(sum(f.rows_read), 0) as rows_read, coalesce(sum(f.rows_landed), 0) as rows_landed, "
        "coalesce(sum(f.rows_quarantined), 0) as rows_quarantined "
        "from ops.runs as r left join ops.file_loads as f using (run_id) group by all"
    )
