"""End to end: demo extracts -> the nightly Dagster job -> staging in the serving database.

Row counts are checked against the extract files, counted here with the csv and json modules.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_dbt import DbtCliResource

from ingestion.contracts import ENTITIES, Entity
from ingestion.settings import DBT_PROJECT_DIR, Paths
from orchestration.dbt import DBT_EXECUTABLE, dbt_resource, last_build_record
from tests.conftest import run_nightly

# Entities that send a new version of a record when it changes; staging keeps one row per key.
VERSIONED = {"crm.customers", "support.tickets"}


def distinct_keys_in_files(extracts: Path, entity: Entity) -> tuple[int, int]:
    """(rows, distinct keys) over every extract file of an entity."""
    keys: list[str] = []
    for path in sorted(entity.folder(extracts).iterdir()):
        with path.open(newline="", encoding="utf-8") as f:
            if path.suffix == ".csv":
                keys += [row[entity.key] for row in csv.DictReader(f)]
            else:
                keys += [json.loads(line)[entity.key] for line in f if line.strip()]
    return len(keys), len(set(keys))


def mart_digests(serving_db: Path) -> dict[str, tuple[int, int]]:
    """Per mart: rows and an order-independent hash of their contents."""
    con = duckdb.connect(str(serving_db), read_only=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts'"
            ).fetchall()
        ]
        return {
            n: con.execute(f"select count(*), coalesce(sum(hash(t)), 0) from marts.{n} as t").fetchone()
            for n in names
        }
    finally:
        con.close()


def staging_counts(serving_db: Path) -> dict[str, int]:
    con = duckdb.connect(str(serving_db), read_only=True)
    try:
        return {
            e.qualified_name: con.execute(
                f"select count(*) from staging.stg_{e.source}__{e.name}"
            ).fetchone()[0]
            for e in ENTITIES
        }
    finally:
        con.close()


def test_the_nightly_job_succeeds_and_publishes(demo_night: tuple[Paths, dg.ExecuteInProcessResult]) -> None:
    paths, result = demo_night
    assert result.success
    assert paths.serving_db.exists()
    assert paths.serving_db != paths.build_db


def test_the_dbt_resource_knows_the_dbt_it_runs_without_asking_it() -> None:
    # The resource overrides two private members of dagster-dbt (orchestration/dbt.py): an upgrade
    # that renames them would quietly bring back their cost.
    assert {"_cli_version", "_initialize_dbt_core_adapter"} <= set(vars(DbtCliResource))
    printed = subprocess.run([DBT_EXECUTABLE, "--version"], capture_output=True, text=True, check=True).stdout
    assert str(dbt_resource._cli_version) == re.search(r"installed: (\d+\.\d+\.\d+)", printed).group(1)


def test_the_nightly_build_leaves_the_unit_tests_to_make_test(
    demo_night: tuple[Paths, dg.ExecuteInProcessResult],
) -> None:
    # Unit tests check SQL logic on fixed inputs, not the night's data; `make test` runs them.
    paths, _ = demo_night
    build = last_build_record(paths) / "run_results.json"
    kinds = {r["unique_id"].split(".")[0] for r in json.loads(build.read_text())["results"]}
    # dbt build also lists the exposures (no work to do); what matters is that no unit test ran
    assert "unit_test" not in kinds
    assert {"seed", "model", "test"} <= kinds


def test_every_extract_row_is_staged_once_per_key(
    demo_night: tuple[Paths, dg.ExecuteInProcessResult],
) -> None:
    paths, _ = demo_night
    counts = staging_counts(paths.build_db)
    for entity in ENTITIES:
        rows, keys = distinct_keys_in_files(paths.extracts, entity)
        assert rows > 0, entity.qualified_name
        if entity.qualified_name not in VERSIONED:
            assert rows == keys, f"{entity.qualified_name}: the demo repeats event keys"
        assert counts[entity.qualified_name] == keys, entity.qualified_name
    assert not any(paths.quarantine.rglob("*.parquet")), "the demo extracts are clean: nothing is quarantined"


def test_every_extract_file_landed_once(demo_night: tuple[Paths, dg.ExecuteInProcessResult]) -> None:
    paths, _ = demo_night
    for entity in ENTITIES:
        extracts = sorted(p.name.rsplit(".", 1)[0] for p in entity.folder(paths.extracts).iterdir())
        landed = sorted(
            p.stem for p in entity.folder(paths.lake).glob("*.parquet") if not p.name.startswith("_")
        )
        assert landed == extracts


def test_a_second_night_on_the_same_files_changes_nothing(
    demo_night: tuple[Paths, dg.ExecuteInProcessResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, _ = demo_night
    monkeypatch.setenv("CX_WAREHOUSE_DIR", str(paths.root))
    before = staging_counts(paths.build_db)
    marts = mart_digests(paths.serving_db)
    manifests = {p: p.read_text() for p in paths.lake.rglob("*.landed.json")}
    variables = {name: os.environ.get(name) for name in paths.dbt_env()}
    again = run_nightly()
    assert again.success
    # The build ran in a scratch target folder, not one more folder per run in the project's target/
    # (dagster-dbt's default, named after the step and the run).
    assert not list((DBT_PROJECT_DIR / "target").glob(f"cx_dbt_models-{again.run_id[:7]}-*"))
    # Seeded with the first night's parse cache (made with this warehouse's settings): dbt parsed no file
    # again. The kept log is this run's alone: each build logs into its own scratch folder.
    dbt_log = "".join(f.read_text() for f in last_build_record(paths).glob("dbt.log*"))
    assert "Partial parsing enabled: 0 files deleted, 0 files added, 0 files changed" in dbt_log
    assert "Unable to do partial parsing" not in dbt_log
    # the paths handed to dbt do not outlive the run: a later run in this process must not inherit them
    assert {name: os.environ.get(name) for name in paths.dbt_env()} == variables
    assert staging_counts(paths.build_db) == before
    assert mart_digests(paths.serving_db) == marts  # same inputs, same marts
    assert {p: p.read_text() for p in paths.lake.rglob("*.landed.json")} == manifests
    landed = again.asset_materializations_for_node("land_crm")
    assert {m.metadata["files_landed"].value for m in landed} == {0}


def test_the_run_record_is_in_the_serving_database(
    demo_night: tuple[Paths, dg.ExecuteInProcessResult],
) -> None:
    paths, result = demo_night
    files = sum(1 for e in ENTITIES for _ in e.folder(paths.extracts).iterdir())
    con = duckdb.connect(str(paths.serving_db), read_only=True)
    try:
        runs = con.execute("select run_id, status from ops.runs").fetchall()
        assert (result.run_id, "succeeded") in runs
        loads = con.execute(
            "select count(*), sum(rows_read), sum(rows_landed + rows_quarantined) from ops.file_loads "
            "where run_id = ? and status = 'landed'",
            [result.run_id],
        ).fetchone()
        assert loads[0] == files
        assert loads[1] == loads[2]  # rows read = landed + quarantined, for every file
        suites = con.execute(
            "select count(distinct entity), bool_and(success) from ops.expectation_results where run_id = ?",
            [result.run_id],
        ).fetchone()
        assert suites == (len(ENTITIES), True)
        tests = dict(
            con.execute(
                "select status, count(*) from ops.dbt_test_results where run_id = ? group by 1",
                [result.run_id],
            ).fetchall()
        )
        assert tests.get("pass", 0) > 100 and not tests.keys() - {"pass", "warn"}
        schemas = {r[0] for r in con.execute("select distinct schema_name from duckdb_tables()").fetchall()}
        assert schemas == {"marts", "ops"}  # no staging (personal data) in what BI tools read
    finally:
        con.close()
