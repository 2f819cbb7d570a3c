"""Publish: the tested build database replaces the serving database in one atomic step."""

import logging
import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb

from ingestion.settings import Paths
from orchestration.dbt import cx_dbt_models

log = logging.getLogger(__name__)


def publish(build_db: Path, serving_db: Path) -> None:
    """Copy the build database next to the serving one, then rename it over the serving one.

    Readers holding the old file keep a consistent snapshot of it; new connections see the new file.
    The copy is made from a checkpointed file so it needs no write-ahead log.
    """
    con = duckdb.connect(str(build_db))
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    serving_db.parent.mkdir(parents=True, exist_ok=True)
    staged = serving_db.with_name(f".{serving_db.name}.publishing")
    shutil.copyfile(build_db, staged)
    with staged.open("rb+") as f:
        os.fsync(f.fileno())
    os.replace(staged, serving_db)
    log.info("published %s -> %s", build_db, serving_db)


@dg.asset(
    deps=[cx_dbt_models],
    group_name="serving",
    kinds={"duckdb"},
    description="The serving database BI tools read, replaced atomically only after every upstream check passed.",
)
def serving_database() -> dg.MaterializeResult:
    paths = Paths.from_env()
    publish(paths.build_db, paths.serving_db)
    con = duckdb.connect(str(paths.serving_db), read_only=True)
    try:
        tables = con.execute(
            "select schema_name || '.' || table_name, estimated_size from duckdb_tables() order by 1"
        ).fetchall()
    finally:
        con.close()
    return dg.MaterializeResult(
        metadata={
            "path": str(paths.serving_db),
            "tables": dg.MetadataValue.json({name: rows for name, rows in tables}),
        }
    )
