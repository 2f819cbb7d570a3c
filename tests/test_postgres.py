"""The models on PostgreSQL: one small demo lake built by dbt on DuckDB and on a real PostgreSQL server.

The server is the `pgserver` wheel's PostgreSQL, started here in a temporary folder; the lake is
loaded into it with `ingestion.postgres.load_lake` and built with `dbt build --target postgres`.
PostgreSQL builds the lake as two nights (the incremental models add the second night's rows),
DuckDB in one go. Every model, data test and unit test enabled on PostgreSQL must pass, and every
table both targets build must hold the same rows (docs/portability.md). Only the Python models,
and the SQL models that need their output, stay on DuckDB.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingestion.contracts import ENTITIES, FILE_NAME, SOURCES
from ingestion.landing import land_source
from ingestion.postgres import PostgresServer, load_lake, start_server, stop_server
from ingestion.settings import DBT_PROJECT_DIR, Paths
from tests.conftest import demo_warehouse

DBT = Path(sys.executable).parent / "dbt"
DEMO_ARGS = ("--customers", "300", "--days", "90", "--seed", "5")
# PostgreSQL first builds without the last days, then adds them incrementally
LATE_DAYS = 10
SCHEMAS = ("staging", "intermediate", "marts")

# What does not run on PostgreSQL: the Python models (dbt-postgres has none) and the SQL models
# that read their output.
DUCKDB_ONLY_MODELS = {
    "int_feedback_sentiments_scored",
    "int_feedback_texts_scored",
    "fct_feedback",
    "mart_feedback_themes",
    "mart_clv_model",
    "mart_customer_clv",
    "mart_churn_model",
    "mart_customers_at_risk",
    "mart_key_drivers",
}
# dim_customers has them as optional inputs: these columns stay null on PostgreSQL.
PYTHON_MODEL_COLUMNS = {
    "dim_customers": {
        "historical_clv",
        "probability_alive",
        "expected_purchases_12m",
        "predicted_clv_12m",
        "churn_risk",
        "churn_risk_band",
        "churn_risk_reasons",
    }
}


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    # Not under pytest's temporary folder: the server runs as its own user when the tests run as
    # root, and pytest makes its base folder private again whenever a pytest session starts.
    with tempfile.TemporaryDirectory(prefix="cx-postgres-") as scratch:
        data_dir = Path(scratch) / "data"
        server = start_server(data_dir)
        yield server
        stop_server(data_dir)


def _dbt_build(target: str, env: dict[str, str], out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(DBT),
            "build",
            "--target",
            target,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(out / "target"),
            "--log-path",
            str(out / "logs"),
        ],
        cwd=DBT_PROJECT_DIR,  # dbt-duckdb resolves python module_paths against the working folder
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen, out: Path) -> dict:
    output, _ = process.communicate(timeout=900)
    run_results = out / "target" / "run_results.json"
    return {
        "returncode": process.returncode,
        "output": output,
        "results": json.loads(run_results.read_text())["results"] if run_results.exists() else [],
        "manifest": json.loads((out / "target" / "manifest.json").read_text()),
    }


def _land(paths: Paths) -> None:
    for source in SOURCES:
        land_source(paths, source)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer) -> dict[str, dict]:
    """The demo lake built on both targets: per target the dbt output, run results and manifest.

    PostgreSQL builds twice, as nights do: everything but the last LATE_DAYS days, then, once those
    have landed, an incremental build; DuckDB builds the whole lake at once.
    """
    root = tmp_path_factory.mktemp("portability")
    with demo_warehouse(root / "warehouse", DEMO_ARGS) as paths:
        paths.ensure()
        dates = {
            p: dt.date.fromisoformat(FILE_NAME.match(p.name)["extract_date"])
            for p in paths.extracts.rglob("*.*")
        }
        cutoff = max(dates.values()) - dt.timedelta(days=LATE_DAYS)
        held = root / "held"
        for path, extract_date in dates.items():
            if extract_date > cutoff:
                (held / path.relative_to(paths.extracts)).parent.mkdir(parents=True, exist_ok=True)
                path.rename(held / path.relative_to(paths.extracts))
        _land(paths)
        load_lake(paths.lake, postgres)
        first_night = _finish(_dbt_build("postgres", postgres.dbt_env(), root / "first"), root / "first")
        for path in held.rglob("*.*"):
            path.rename(paths.extracts / path.relative_to(held))
        _land(paths)
    loaded = load_lake(paths.lake, postgres)
    assert set(loaded) == {e.qualified_name for e in ENTITIES} and all(loaded.values())

    duck_env = {"CX_LAKE_DIR": str(paths.lake), "CX_BUILD_DB": str(paths.build_db)}
    running = {
        "duckdb": _dbt_build("dev", duck_env, root / "duckdb"),
        "postgres": _dbt_build("postgres", postgres.dbt_env(), root / "postgres"),
    }
    builds = {target: _finish(process, root / target) for target, process in running.items()}
    builds["postgres_first_night"] = first_night
    builds["duckdb"]["db"] = paths.build_db
    return builds


def _statuses(results: list[dict]) -> dict[str, dict[str, str]]:
    """{resource type: {node name: status}}."""
    by_type: dict[str, dict[str, str]] = {}
    for r in results:
        resource_type, *_, name = r["unique_id"].split(".")
        by_type.setdefault(resource_type, {})[name] = r["status"]
    return by_type


def test_every_node_passes_on_both_targets(builds: dict[str, dict]) -> None:
    for target, build in builds.items():
        assert build["returncode"] == 0, f"{target}:\n{build['output'][-6000:]}"
    duck, pg = _statuses(builds["duckdb"]["results"]), _statuses(builds["postgres"]["results"])
    for by_type in (duck, pg, _statuses(builds["postgres_first_night"]["results"])):
        assert set(by_type["model"].values()) == {"success"}
        assert set(by_type["seed"].values()) == {"success"}
        assert set(by_type["unit_test"].values()) == {"pass"}
        assert set(by_type["test"].values()) == {"pass"}
    # everything but the DuckDB-only models, with their data and unit tests, runs on PostgreSQL
    assert set(duck["model"]) - set(pg["model"]) == DUCKDB_ONLY_MODELS
    assert set(pg["model"]) < set(duck["model"])
    # dim_customers' unit test has a twin without the Python-model inputs for other targets
    assert set(pg["unit_test"]) - set(duck["unit_test"]) == {
        "dim_customers_lifecycle_stages_without_python_models"
    }
    # every data or unit test left out tests a DuckDB-only model
    nodes = builds["duckdb"]["manifest"]["nodes"] | builds["duckdb"]["manifest"]["unit_tests"]
    for result in builds["duckdb"]["results"]:
        resource_type, *_, name = result["unique_id"].split(".")
        if resource_type in ("test", "unit_test") and name not in pg[resource_type]:
            tested = {n.split(".")[-1] for n in nodes[result["unique_id"]]["depends_on"]["nodes"]}
            assert tested & (DUCKDB_ONLY_MODELS | {"dim_customers"}), name


def _normal(value: object) -> object:
    """A value as both engines should agree on it: numbers to 6 significant digits, times as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float | Decimal):
        number = float(value)
        return f"{number:.6g}" if number != 0 else "0"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return tuple(_normal(v) for v in value)
    raise TypeError(f"no normal form for {type(value).__name__}: {value!r}")


def _rows(cursor, schema: str, table: str, columns: list[str]) -> list[tuple]:
    select = ", ".join(f'"{c}"' for c in columns)
    cursor.execute(f'select {select} from "{schema}"."{table}"')
    rows = [tuple(_normal(v) for v in row) for row in cursor.fetchall()]
    return sorted(rows, key=lambda row: [(v is None, str(v)) for v in row])


def test_both_targets_build_the_same_rows(builds: dict[str, dict], postgres: PostgresServer) -> None:
    with (
        closing(duckdb.connect(str(builds["duckdb"]["db"]), read_only=True)) as duck,
        closing(postgres.connect()) as pg,
        pg.cursor() as pg_cursor,
    ):
        pg_cursor.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_schema = any(%s) order by table_schema, table_name, ordinal_position",
            (list(SCHEMAS),),
        )
        pg_tables: dict[tuple[str, str], list[str]] = {}
        for schema, table, column in pg_cursor.fetchall():
            pg_tables.setdefault((schema, table), []).append(column)
        duck_tables: dict[tuple[str, str], list[str]] = {}
        for schema, table, column in duck.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where list_contains(?, table_schema) order by table_schema, table_name, ordinal_position",
            [list(SCHEMAS)],
        ).fetchall():
            duck_tables.setdefault((schema, table), []).append(column)

        assert {t for _, t in set(duck_tables) - set(pg_tables)} == DUCKDB_ONLY_MODELS
        compared = 0
        for (schema, table), columns in sorted(pg_tables.items()):
            assert columns == duck_tables[(schema, table)], table
            python_columns = PYTHON_MODEL_COLUMNS.get(table, set())
            shared = [c for c in columns if c not in python_columns]
            pg_rows = _rows(pg_cursor, schema, table, shared)
            duck_rows = _rows(duck.cursor(), schema, table, shared)
            assert len(pg_rows) == len(duck_rows), table
            mismatched = [(d, p) for d, p in zip(duck_rows, pg_rows, strict=True) if d != p]
            assert not mismatched, f"{table}: {len(mismatched)} rows differ, first: {mismatched[0]}"
            if python_columns:
                pg_cursor.execute(
                    f'select count(*) from "{schema}"."{table}" where '
                    + " or ".join(f'"{c}" is not null' for c in sorted(python_columns))
                )
                assert pg_cursor.fetchone() == (0,), table
            compared += len(pg_rows)
        assert compared > 10_000


def test_postgres_builds_the_incremental_models_incrementally(builds: dict[str, dict]) -> None:
    nodes = builds["postgres"]["manifest"]["nodes"]
    incremental = {uid for uid, node in nodes.items() if node["config"].get("materialized") == "incremental"}
    assert len(incremental) >= 5
    for build, statement in (("postgres_first_night", "SELECT"), ("postgres", "INSERT")):
        messages = {
            r["unique_id"]: r["adapter_response"].get("_message", "")
            for r in builds[build]["results"]
            if r["unique_id"] in incremental
        }
        assert set(messages) == incremental
        # the first night creates each table, the next one inserts the night's rows into it
        assert all(m.startswith(statement) for m in messages.values()), (build, messages)
