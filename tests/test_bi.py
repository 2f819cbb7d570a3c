"""The serving database as BI tools see it (docs/bi.md): contracts, comments, exposures, Parquet exports
and a read-only SQLAlchemy connection.

Expected names, types and descriptions are read straight from the dbt YAML files; expected counts from
the demo extract files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import yaml

from ingestion.settings import DBT_PROJECT_DIR, Paths
from orchestration.exports import swap_exports, write_exports

Night = tuple[Paths, dg.ExecuteInProcessResult]
MARTS_DIR = DBT_PROJECT_DIR / "models" / "marts"
BUILD_ONLY_COLUMNS = {"_loaded_at"}


def mart_yaml() -> dict[str, dict]:
    """Every mart's YAML entry, by model name, from the marts folders' `_<folder>__models.yml`."""
    return {
        model["name"]: model
        for path in sorted(MARTS_DIR.glob("*/_*__models.yml"))
        for model in yaml.safe_load(path.read_text())["models"]
    }


def manifest() -> dict:
    return json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())


def served_marts(db: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        t
        for (t,) in db.execute(
            "select table_name from duckdb_tables() where schema_name = 'marts' order by 1"
        ).fetchall()
    ]


def test_every_served_mart_has_the_columns_and_types_of_its_yaml(demo_db) -> None:
    marts = mart_yaml()
    assert set(served_marts(demo_db)) == set(marts)
    for name, model in marts.items():
        assert model.get("description", "").strip(), f"{name} has no description"
        declared = [c for c in model["columns"] if c["name"] not in BUILD_ONLY_COLUMNS]
        for column in model["columns"]:
            assert column.get("description", "").strip(), f"{name}.{column['name']} has no description"
            assert column.get("data_type"), f"{name}.{column['name']} has no data_type"
        served = demo_db.execute(
            "select column_name, data_type from duckdb_columns() where schema_name = 'marts' and table_name = ? "
            "order by column_index",
            [name],
        ).fetchall()
        assert served == [(c["name"], c["data_type"].upper()) for c in declared], name


def test_sql_marts_enforce_their_contract_and_persist_their_docs() -> None:
    nodes = [
        n
        for n in manifest()["nodes"].values()
        if n["resource_type"] == "model" and n["original_file_path"].startswith("models/marts/")
    ]
    sql = {n["name"] for n in nodes if n["language"] == "sql"}
    python = {n["name"] for n in nodes if n["language"] == "python"}
    marts = {p.stem for p in MARTS_DIR.glob("*/*.sql")}
    assert sql == marts
    assert python == {p.stem for p in MARTS_DIR.glob("*/*.py")}
    for node in nodes:
        # dbt supports contracts on SQL models only.
        assert node["contract"]["enforced"] is (node["name"] in marts), node["name"]
        assert node["config"]["persist_docs"] == {"relation": True, "columns": True}, node["name"]


def test_a_mart_whose_columns_drift_from_its_contract_fails_to_build(
    demo_night: Night, tmp_path: Path
) -> None:
    """The contract holds in a real dbt run: declare a column's type wrong and the model does not build."""
    paths, _ = demo_night
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    models = project / "models" / "marts" / "core" / "_core__models.yml"
    text = models.read_text()
    start = text.index("  - name: mart_identity_conflicts\n")
    declared = "      - name: identifier\n        data_type: varchar\n"
    at = text.index(declared, start)
    models.write_text(text[:at] + declared.replace("varchar", "integer") + text[at + len(declared) :])
    build_db = tmp_path / "cx_build.duckdb"
    shutil.copy(paths.build_db, build_db)
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "run",
            "--select",
            "mart_identity_conflicts",
            "--profiles-dir",
            ".",
        ],
        cwd=project,
        env={**os.environ, "CX_BUILD_DB": str(build_db), "CX_LAKE_DIR": str(paths.lake)},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert "This model has an enforced contract that failed" in run.stdout
    assert "| identifier  | VARCHAR         | INTEGER       | data type mismatch |" in run.stdout


def test_table_and_column_descriptions_reach_the_serving_database(demo_db) -> None:
    marts = mart_yaml()
    checked = {
        "mart_cx_scores": ["survey_type", "month_start", "response_rate_pct"],
        "mart_churn_monthly": ["month_start", "churn_rate_pct"],
        "mart_customers_at_risk": ["customer_id"],  # a Python model
    }
    for table, columns in checked.items():
        model = marts[table]
        comment = demo_db.execute(
            "select comment from duckdb_tables() where schema_name = 'marts' and table_name = ?", [table]
        ).fetchone()[0]
        assert comment == model["description"]
        described = {c["name"]: c["description"] for c in model["columns"]}
        served = dict(
            demo_db.execute(
                "select column_name, comment from duckdb_columns() where schema_name = 'marts' and table_name = ?",
                [table],
            ).fetchall()
        )
        for column in columns:
            assert served[column] == described[column], f"{table}.{column}"
    # Every served column carries its description.
    assert (
        demo_db.execute(
            "select count(*) from duckdb_columns() where schema_name = 'marts' and coalesce(comment, '') = ''"
        ).fetchone()[0]
        == 0
    )


def test_dashboards_are_exposures_on_the_marts_they_read() -> None:
    exposures = {e["name"]: e for e in manifest()["exposures"].values()}
    expected = {
        "cx_report": {
            "mart_cx_scores",
            "mart_churn_monthly",
            "mart_cohort_retention",
            "mart_customer_clv",
            "mart_support_performance",
            "mart_touchpoint_impact",
            "mart_close_the_loop",
        },
        "executive_cx_dashboard": {
            "mart_cx_scores",
            "mart_churn_monthly",
            "mart_revenue_movements",
            "mart_cohort_retention",
            "mart_key_drivers",
            "mart_customers_at_risk",
        },
        "support_dashboard": {
            "mart_support_performance",
            "fct_support_tickets",
            "mart_close_the_loop",
            "mart_feedback_themes",
        },
        "customer_success_worklist": {"mart_customers_at_risk", "dim_customers", "mart_promoters"},
    }
    assert set(exposures) == set(expected)
    for name, marts in expected.items():
        exposure = exposures[name]
        assert set(exposure["depends_on"]["nodes"]) == {f"model.cx_warehouse.{m}" for m in marts}, name
        assert exposure["owner"]["name"] and exposure["description"].strip()
        assert exposure["type"] in {"dashboard", "application"} and exposure["maturity"] in {
            "low",
            "medium",
            "high",
        }


def test_every_served_mart_is_exported_to_parquet(demo_night: Night, demo_db) -> None:
    paths, _ = demo_night
    exports = paths.root / "exports" / "marts"
    assert exports.is_symlink()
    assert sorted(p.stem for p in exports.glob("*.parquet")) == served_marts(demo_db)
    # An order-independent fingerprint: the row count and the sum of the rows' hashes. DuckDB hashes
    # equal values alike across integer widths (HUGEINT is exported as BIGINT) and -0.0 like 0.0
    # (which the Parquet writer stores as 0.0).
    fingerprint = "select count(*), sum(hash(t)::hugeint) from {} as t"
    types = "select column_name, column_type from (describe select * from {})"
    for table in served_marts(demo_db):
        served, exported = f"marts.{table}", f"read_parquet('{exports / table}.parquet')"
        assert (
            demo_db.execute(fingerprint.format(exported)).fetchone()
            == demo_db.execute(fingerprint.format(served)).fetchone()
        ), table
        # Same columns and types, except that Parquet has no HUGEINT: those are written as BIGINT.
        assert demo_db.execute(types.format(exported)).fetchall() == [
            (column, "BIGINT" if data_type == "HUGEINT" else data_type)
            for column, data_type in demo_db.execute(types.format(served)).fetchall()
        ], table


def test_the_same_marts_give_the_same_files(demo_db, tmp_path: Path) -> None:
    first = write_exports(demo_db, tmp_path / "first")
    second = write_exports(demo_db, tmp_path / "second")
    files = sorted(p.name for p in first.iterdir())
    assert files == sorted(p.name for p in second.iterdir()) and files
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_a_new_export_replaces_the_link_and_the_older_folders(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("create schema marts")
    exports = tmp_path / "exports"
    folders = []
    for night in range(3):
        con.execute(f"create or replace table marts.nights as select {night} as night")
        folders.append(write_exports(con, exports))
        swap_exports(folders[-1])
        assert con.execute(f"select night from '{exports}/marts/nights.parquet'").fetchone() == (night,)
    assert (exports / "marts").resolve() == folders[2].resolve()
    # Only tonight's set remains: an erased person leaves the exports with the serving database.
    assert sorted(exports.glob("marts-*")) == folders[2:]


def test_an_export_replaces_a_copied_plain_folder(tmp_path: Path) -> None:
    """A warehouse copied without keeping links has a plain `exports/marts` folder: the next export replaces it."""
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("create table marts.nights as select 1 as night")
    original = tmp_path / "original" / "exports"
    swap_exports(write_exports(con, original))
    copy = tmp_path / "copy" / "exports"
    shutil.copytree(original, copy)  # follows the link: `marts` is a plain folder in the copy
    assert not (copy / "marts").is_symlink()
    con.execute("create or replace table marts.nights as select 2 as night")
    swap_exports(write_exports(con, copy))
    assert (copy / "marts").is_symlink()
    assert con.execute(f"select night from '{copy}/marts/nights.parquet'").fetchone() == (2,)


# As docs/bi.md documents it (and as Superset builds the engine from its URI). It runs in its own
# process, as a BI tool does: one process cannot open a file twice with different settings.
SQLALCHEMY_READER = """
import json, sys
import sqlalchemy as sa

engine = sa.create_engine(f"duckdb:///{sys.argv[1]}?access_mode=read_only")
with engine.connect() as connection:
    customers = connection.execute(sa.text("select count(*) from marts.dim_customers")).scalar_one()
    try:
        connection.execute(sa.text("create table marts.scratch as select 1 as x"))
        refused = ""
    except sa.exc.DBAPIError as error:
        refused = str(error.orig)
print(json.dumps({"customers": customers, "refused": refused}))
"""


def test_sqlalchemy_reads_a_mart_read_only_beside_another_reader(
    demo_night: Night, demo_db, demo_files
) -> None:
    paths, _ = demo_night
    # This process holds its own read-only connection open meanwhile (demo_db), as another BI tool would.
    assert demo_db.execute("select count(*) from marts.mart_cx_scores").fetchone()[0] > 0
    child = subprocess.run(
        [sys.executable, "-c", SQLALCHEMY_READER, str(paths.serving_db)],
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(child.stdout)
    assert answer["customers"] == demo_files["crm.customers"].customer_id.nunique()
    assert "read-only mode" in answer["refused"]
    assert demo_db.execute("select count(*) from marts.dim_customers").fetchone()[0] == answer["customers"]
