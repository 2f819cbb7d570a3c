"""Shared fixtures: an isolated warehouse folder per test, and a prepared dbt manifest."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from ingestion.contracts import ENTITIES
from ingestion.landing import MANIFEST_SUFFIX
from ingestion.settings import DBT_PROJECT_DIR, Paths

BIN = Path(sys.executable).parent
PATH_VARS = (
    "CX_WAREHOUSE_DIR",
    "CX_EXTRACTS_DIR",
    "CX_LAKE_DIR",
    "CX_QUARANTINE_DIR",
    "CX_REJECTED_DIR",
    "CX_BUILD_DB",
    "CX_SERVING_DB",
)


# `make test` hands whole modules to its workers in collection order: the longest (a few minutes
# each, mostly nightly runs in subprocesses) go first, so that no worker is left alone with one at the end.
LONGEST_FIRST = (
    "test_publish_safety.py",
    "test_backfill_from_the_ui.py",
    "test_gates.py",
    "test_partitions.py",
    "test_postgres.py",
    "test_incremental.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the other modules, and the tests within each, keep their order


def pytest_configure(config: pytest.Config) -> None:
    # orchestration.dbt loads the manifest when imported; `make test` prepares it, a bare pytest may not have.
    # Under pytest-xdist only the controller parses: it configures before it starts the workers.
    is_worker = hasattr(config, "workerinput")
    if not is_worker and not (DBT_PROJECT_DIR / "target" / "manifest.json").exists():
        subprocess.run([str(BIN / "dbt"), "parse", "--profiles-dir", "."], cwd=DBT_PROJECT_DIR, check=True)


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """A fresh warehouse folder, with every path variable pointing into it."""
    for var in PATH_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CX_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    paths = Paths.from_env()
    paths.ensure()
    return paths


def run_nightly() -> dg.ExecuteInProcessResult:
    """The nightly job as `make nightly` runs it (over the days of the waiting files), with a throwaway instance."""
    from orchestration.run import execute

    with dg.DagsterInstance.ephemeral() as instance:
        return execute(instance)


# A year of 1,200 customers: enough for the planted truths to show in the marts, small enough to
# build in well under a minute.
DEMO_ARGS = ("--customers", "1200", "--days", "365", "--seed", "7")


@contextlib.contextmanager
def demo_warehouse(root: Path, demo_args: tuple[str, ...]) -> Iterator[Paths]:
    """A warehouse folder holding freshly generated demo extracts, with every path variable pointing into it."""
    with pytest.MonkeyPatch.context() as mp:
        for var in PATH_VARS:
            mp.delenv(var, raising=False)
        mp.setenv("CX_WAREHOUSE_DIR", str(root))
        paths = Paths.from_env()
        subprocess.run(
            [sys.executable, "-m", "ingestion.demo", *demo_args, "--out", str(paths.extracts)],
            check=True,
            capture_output=True,
        )
        yield paths


def landed_days(paths: Paths) -> set[str]:
    """Extract dates with a landing manifest, over every entity."""
    return {
        m.name.removesuffix(MANIFEST_SUFFIX).rsplit("_", 1)[1]
        for e in ENTITIES
        for m in e.folder(paths.lake).glob(f"*{MANIFEST_SUFFIX}")
    }


@pytest.fixture(scope="session")
def demo_night(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Paths, dg.ExecuteInProcessResult]]:
    """Demo extracts generated and run through the nightly job once, shared by the suite.

    The path variables point at it only during the run: later tests must not land into it by default."""
    with demo_warehouse(tmp_path_factory.mktemp("nightly") / "warehouse", DEMO_ARGS) as paths:
        result = run_nightly()
    yield paths, result


@pytest.fixture(scope="session")
def demo_files(demo_night: tuple[Paths, dg.ExecuteInProcessResult]) -> dict[str, pd.DataFrame]:
    """Every extract entity of the demo night read straight from its files, as strings (CSV) or JSON values."""
    paths, _ = demo_night
    frames = {}
    for entity in ENTITIES:
        parts = []
        for path in sorted(entity.folder(paths.extracts).iterdir()):
            if path.suffix == ".csv":
                parts.append(pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""]))
            else:
                parts.append(pd.read_json(path, lines=True, dtype=False))
        frames[entity.qualified_name] = pd.concat(parts, ignore_index=True)
    return frames


@pytest.fixture(scope="session")
def demo_db(demo_night: tuple[Paths, dg.ExecuteInProcessResult]) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the demo night's serving database."""
    paths, result = demo_night
    assert result.success
    con = duckdb.connect(str(paths.serving_db), read_only=True)
    yield con
    con.close()
