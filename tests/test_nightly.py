"""End to end: demo extracts -> the nightly Dagster job -> staging in the serving database.

Row counts are checked against the extract files, counted here with the csv and json modules.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ingestion.contracts import ENTITIES, Entity
from ingestion.settings import Paths

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


def run_nightly() -> dg.ExecuteInProcessResult:
    from orchestration.definitions import defs

    with dg.DagsterInstance.ephemeral() as instance:
        return defs.resolve_job_def("nightly").execute_in_process(instance=instance, raise_on_error=False)


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


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Paths, dg.ExecuteInProcessResult]:
    root = tmp_path_factory.mktemp("nightly") / "warehouse"
    with pytest.MonkeyPatch.context() as mp:
        for var in ("CX_EXTRACTS_DIR", "CX_LAKE_DIR", "CX_QUARANTINE_DIR", "CX_BUILD_DB", "CX_SERVING_DB"):
            mp.delenv(var, raising=False)
        mp.setenv("CX_WAREHOUSE_DIR", str(root))
        paths = Paths.from_env()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ingestion.demo",
                "--customers",
                "150",
                "--days",
                "45",
                "--seed",
                "7",
                "--out",
                str(paths.extracts),
            ],
            check=True,
            capture_output=True,
        )
        result = run_nightly()
        yield paths, result


def test_the_nightly_job_succeeds_and_publishes(demo_run: tuple[Paths, dg.ExecuteInProcessResult]) -> None:
    paths, result = demo_run
    assert result.success
    assert paths.serving_db.exists()
    assert paths.serving_db != paths.build_db


def test_every_extract_row_is_staged_once_per_key(demo_run: tuple[Paths, dg.ExecuteInProcessResult]) -> None:
    paths, _ = demo_run
    counts = staging_counts(paths.serving_db)
    for entity in ENTITIES:
        rows, keys = distinct_keys_in_files(paths.extracts, entity)
        assert rows > 0, entity.qualified_name
        if entity.qualified_name not in VERSIONED:
            assert rows == keys, f"{entity.qualified_name}: the demo repeats event keys"
        assert counts[entity.qualified_name] == keys, entity.qualified_name
    assert not any(paths.quarantine.rglob("*.parquet")), "the demo extracts are clean: nothing is quarantined"


def test_every_extract_file_landed_once(demo_run: tuple[Paths, dg.ExecuteInProcessResult]) -> None:
    paths, _ = demo_run
    for entity in ENTITIES:
        extracts = sorted(p.name.rsplit(".", 1)[0] for p in entity.folder(paths.extracts).iterdir())
        landed = sorted(
            p.stem for p in entity.folder(paths.lake).glob("*.parquet") if not p.name.startswith("_")
        )
        assert landed == extracts


def test_a_second_night_on_the_same_files_changes_nothing(
    demo_run: tuple[Paths, dg.ExecuteInProcessResult],
) -> None:
    paths, _ = demo_run
    before = staging_counts(paths.serving_db)
    manifests = {p: p.read_text() for p in paths.lake.rglob("*.landed.json")}
    again = run_nightly()
    assert again.success
    assert staging_counts(paths.serving_db) == before
    assert {p: p.read_text() for p in paths.lake.rglob("*.landed.json")} == manifests
    landed = again.asset_materializations_for_node("land_crm")
    assert {m.metadata["files_landed"].value for m in landed} == {0}
