"""Landing: typing, lineage, quarantine and idempotency on real files and real DuckDB."""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import shutil
import time
import weakref
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from expectations.gate import GateResult, validate
from ingestion import landing
from ingestion.contracts import BY_NAME, Entity
from ingestion.landing import discover, land_source
from ingestion.settings import Paths
from tests.conftest import demo_warehouse

LOADED_AT = datetime(2026, 1, 2, 3, 4, 5)
HEADER = "customer_id,email,full_name,signup_at,plan,region,country,acquisition_channel,birth_year,gender,updated_at"


def write(paths: Paths, relative: str, text: str) -> Path:
    path = paths.extracts / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def lake_rows(paths: Paths, query: str) -> list[tuple]:
    return duckdb.sql(
        query.replace("LAKE", str(paths.lake)).replace("QUAR", str(paths.quarantine))
    ).fetchall()


def test_typed_rows_carry_lineage_and_utc_times(warehouse: Paths) -> None:
    write(
        warehouse,
        "crm/customers/customers_2025-03-01.csv",
        f"{HEADER}\n"
        "C1, Ann@Example.com ,Ann,2025-03-01T10:30:00+01:00,basic,europe,DE,social,1980,female,2025-03-01T10:30:00Z\n"
        "C2,bo@example.com,Bo,2025-03-01 08:00:00,premium,apac,JP,referral,,,2025-03-01T08:00:00-05:00\n",
    )
    report = land_source(warehouse, "crm", LOADED_AT)
    assert report.errors == []
    assert report.totals() == {
        "files_landed": 1,
        "files_skipped": 0,
        "rows_read": 2,
        "rows_landed": 2,
        "rows_quarantined": 0,
    }
    rows = lake_rows(
        warehouse,
        "select customer_id, email, signup_at, updated_at, birth_year, _source_file, _row_number, _extract_date, "
        "_loaded_at from 'LAKE/crm/customers/customers_2025-03-01.parquet' order by _row_number",
    )
    assert rows == [
        (
            "C1",
            " Ann@Example.com ",
            datetime(2025, 3, 1, 9, 30),
            datetime(2025, 3, 1, 10, 30),
            1980,
            "crm/customers/customers_2025-03-01.csv",
            1,
            datetime(2025, 3, 1).date(),
            LOADED_AT,
        ),
        (
            "C2",
            "bo@example.com",
            datetime(2025, 3, 1, 8, 0),
            datetime(2025, 3, 1, 13, 0),
            None,
            "crm/customers/customers_2025-03-01.csv",
            2,
            datetime(2025, 3, 1).date(),
            LOADED_AT,
        ),
    ]


def test_rows_that_cannot_be_typed_are_quarantined_with_file_row_and_rule(warehouse: Paths) -> None:
    write(
        warehouse,
        "crm/customers/customers_2025-03-02.csv",
        f"{HEADER}\n"
        "C1,a@x.com,A,2025-03-02T10:00:00Z,basic,europe,DE,social,1980,,2025-03-02T10:00:00Z\n"
        "C2,b@x.com,B,not a time,basic,europe,DE,social,,,2025-03-02T10:00:00Z\n"
        ",c@x.com,C,2025-03-02T10:00:00Z,basic,europe,DE,social,19x0,,2025-03-02T10:00:00Z\n",
    )
    report = land_source(warehouse, "crm", LOADED_AT)
    (result,) = report.results
    assert (result.rows_read, result.rows_landed, result.rows_quarantined) == (3, 1, 2)
    quarantined = lake_rows(
        warehouse,
        "select _source_file, _row_number, _rule, _reason, signup_at "
        "from 'QUAR/crm/customers/customers_2025-03-02.parquet' order by _row_number",
    )
    assert quarantined == [
        (
            "crm/customers/customers_2025-03-02.csv",
            2,
            "type",
            "type: column 'signup_at' value 'not a time' is not a valid TIMESTAMP",
            "not a time",
        ),
        (
            "crm/customers/customers_2025-03-02.csv",
            3,
            "required",
            "required: column 'customer_id' is empty; type: column 'birth_year' value '19x0' is not a valid INTEGER",
            "2025-03-02T10:00:00Z",
        ),
    ]


def test_landing_the_same_file_twice_is_a_no_op(warehouse: Paths) -> None:
    write(
        warehouse,
        "crm/customers/customers_2025-03-03.csv",
        f"{HEADER}\nC1,a@x.com,A,2025-03-03T10:00:00Z,basic,europe,DE,social,,,2025-03-03T10:00:00Z\n",
    )
    land_source(warehouse, "crm", LOADED_AT)
    parquet = BY_NAME["crm.customers"].folder(warehouse.lake) / "customers_2025-03-03.parquet"
    before = (parquet.stat().st_mtime_ns, parquet.read_bytes())
    again = land_source(warehouse, "crm", datetime(2026, 1, 3))
    assert [r.status for r in again.results] == ["skipped"]
    assert again.totals()["rows_landed"] == 0
    assert (parquet.stat().st_mtime_ns, parquet.read_bytes()) == before
    manifest = json.loads(parquet.with_name("customers_2025-03-03.landed.json").read_text())
    assert manifest["loaded_at"] == LOADED_AT.isoformat()


def test_a_changed_file_under_a_landed_name_is_an_error_not_an_overwrite(warehouse: Paths) -> None:
    path = write(
        warehouse,
        "crm/customers/customers_2025-03-04.csv",
        f"{HEADER}\nC1,a@x.com,A,2025-03-04T10:00:00Z,basic,europe,DE,social,,,2025-03-04T10:00:00Z\n",
    )
    land_source(warehouse, "crm", LOADED_AT)
    path.write_text(path.read_text().replace("a@x.com", "changed@x.com"))
    report = land_source(warehouse, "crm", LOADED_AT)
    (error,) = report.errors
    assert error.file == "crm/customers/customers_2025-03-04.csv"
    assert error.rule == "changed file"
    assert lake_rows(warehouse, "select email from 'LAKE/crm/customers/customers_2025-03-04.parquet'") == [
        ("a@x.com",)
    ]


def test_json_lines_land_with_missing_keys_as_null(warehouse: Paths) -> None:
    write(
        warehouse,
        "web/events/events_2025-03-05.jsonl",
        '{"event_id": "e1", "visitor_id": "v1", "occurred_at": "2025-03-05T00:00:00Z", "event_name": "page_view"}\n'
        '{"event_id": "e2", "visitor_id": "v1", "occurred_at": "2025-03-05T00:01:00+02:00", '
        '"event_name": "purchase", "revenue": 12.5, "order_id": "O1"}\n',
    )
    report = land_source(warehouse, "web", LOADED_AT)
    assert report.errors == []
    assert lake_rows(
        warehouse,
        "select event_id, occurred_at, order_id, revenue::double from 'LAKE/web/events/*.parquet' order by 1",
    ) == [("e1", datetime(2025, 3, 5, 0, 0), None, None), ("e2", datetime(2025, 3, 4, 22, 1), "O1", 12.5)]


@pytest.mark.parametrize(
    ("relative", "rule"),
    [
        ("crm/customers.csv", "layout"),
        ("crm/leads/leads_2025-03-01.csv", "layout"),
        ("crm/customers/customers-2025-03-01.csv", "file name"),
        ("crm/customers/customers_2025-02-30.csv", "file name"),
    ],
)
def test_files_outside_the_contract_are_named_with_the_rule(
    warehouse: Paths, relative: str, rule: str
) -> None:
    write(warehouse, relative, f"{HEADER}\n")
    files, errors = discover(warehouse, "crm")
    assert files == []
    assert [(e.file, e.rule) for e in errors] == [(relative, rule)]


def test_a_file_missing_a_required_column_is_rejected(warehouse: Paths) -> None:
    write(warehouse, "crm/customers/customers_2025-03-06.csv", "customer_id,email\nC1,a@x.com\n")
    report = land_source(warehouse, "crm", LOADED_AT)
    (error,) = report.errors
    assert error.rule == "missing columns"
    assert "signup_at" in error.detail and "updated_at" in error.detail
    assert not (warehouse.lake / "crm/customers/customers_2025-03-06.parquet").exists()


def test_gate_batches_are_capped_by_rows_and_land_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At scale a night holds millions of rows: the gate validates them in row-capped batches (bounded
    memory), which must land and quarantine exactly what one batch would."""
    with demo_warehouse(tmp_path / "one_batch", ("--customers", "150", "--days", "60", "--seed", "3")) as one:
        files = sorted((one.extracts / "web").rglob("events_*.jsonl"))
        for path in (files[3], files[40]):  # a row the gate quarantines, in two different batches
            event = json.loads(path.read_text().splitlines()[0])
            path.write_text(
                path.read_text()
                + json.dumps({**event, "event_id": f"bad-{path.stem}", "revenue": -5.0})
                + "\n"
            )
        capped = Paths.from_env(tmp_path / "capped")
        shutil.copytree(one.extracts, capped.extracts)
        land_source(one, "web", LOADED_AT)
        cap = 400
        monkeypatch.setattr(landing, "GATE_BATCH_ROWS", cap)
        validated: list[weakref.ref[pd.DataFrame]] = []

        def validate_and_remember(entity: Entity, frame: pd.DataFrame, *args: Any) -> GateResult:
            validated.append(weakref.ref(frame))
            return validate(entity, frame, *args)

        monkeypatch.setattr(landing, "validate", validate_and_remember)
        report = land_source(capped, "web", LOADED_AT)

    # Counted from the extract files themselves (one event per line), not from the landing.
    lines = [len(f.read_text().splitlines()) for f in files]
    runs = [o for o in report.outcomes if o.entity == "web.events" and o.rule == report.outcomes[0].rule]
    assert len(runs) > 1
    assert sum(o.element_count for o in runs) == sum(lines)
    # A batch closes at the first chunk of files (4 per core) that reaches the cap.
    assert all(o.element_count < cap + 4 * (os.cpu_count() or 1) * max(lines) for o in runs)
    for tree in ("lake", "quarantine"):
        query = "select * from read_parquet('{}/web/events/*.parquet') order by all"
        rows = duckdb.sql(query.format(getattr(one, tree))).fetchall()
        assert rows == duckdb.sql(query.format(getattr(capped, tree))).fetchall()
    assert len(rows) == 2  # the quarantine: both planted rows, and nothing else
    # Nothing holds a batch's rows once landed (GX's execution engine caches the last batch it saw).
    gc.collect()
    assert len(validated) == len(runs)
    assert all(frame() is None for frame in validated)


def _ensure_schema_files_when(lake_root: str, start: float) -> None:
    # In a process of its own: landing may run in several processes at once (a deployment that gives
    # the job Dagster's multiprocess executor runs the land steps so).
    time.sleep(max(0.0, start - time.time()))
    landing.ensure_schema_files(Paths.from_env(lake_root))


def test_land_steps_running_at_once_write_the_schema_files_without_clashing(tmp_path: Path) -> None:
    # Every land step first writes the schema file of every entity, so land steps running at once race
    # to write the same files on a new lake; each must succeed and leave whole files.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=4, mp_context=spawn) as pool:
        for attempt in range(3):
            root = tmp_path / f"attempt_{attempt}"
            # All four processes waiting (the first attempt imports first) so that they write together.
            start = time.time() + (3 if attempt == 0 else 0.3)
            for future in [pool.submit(_ensure_schema_files_when, str(root), start) for _ in range(4)]:
                future.result(timeout=60)
            paths = Paths.from_env(root)
            for entity in BY_NAME.values():
                schema_file = entity.folder(paths.lake) / landing.SCHEMA_FILE
                assert duckdb.sql(f"select count(*) from '{schema_file}'").fetchone() == (0,)
            assert [p.name for p in paths.lake.rglob("*.tmp")] == []
