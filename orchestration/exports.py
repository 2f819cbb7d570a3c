"""Parquet copies of the served marts, for tools that prefer files to a database (docs/bi.md).

Each publish writes every mart of the new serving database to a new folder, `exports/marts-<stamp>/`,
then points the link `exports/marts` at it with one atomic rename: a reader sees last night's set or
tonight's, never a half-written one. The older folders are then deleted, not kept for slow readers:
after an erasure request the people erased must leave the exports with the serving database
(docs/privacy.md); a file already open stays readable. Rows are written sorted, so the same marts
give byte-identical files.
"""

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb

LINK_NAME = "marts"


def exports_dir(warehouse_root: Path) -> Path:
    return warehouse_root / "exports"


def write_exports(con: duckdb.DuckDBPyConnection, exports: Path, schema: str = "marts") -> Path:
    """Write each table of `schema` to `<exports>/marts-<stamp>/<table>.parquet`; return that folder."""
    exports.mkdir(parents=True, exist_ok=True)
    folder = exports / f"{LINK_NAME}-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
    folder.mkdir()
    tables = con.execute(
        "select table_name from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? order by 1",
        [schema],
    ).fetchall()
    for (table,) in tables:
        target = str(folder / f"{table}.parquet").replace("'", "''")
        con.execute(f"copy ({_select(con, schema, table)} order by all) to '{target}' (format parquet)")
    return folder


def _select(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> str:
    # Parquet has no 128-bit integer: DuckDB would write HUGEINT columns (sums of counts) as DOUBLE.
    # They hold counts and minutes, well within BIGINT, so they are exported as BIGINT.
    hugeints = [
        f'"{column}"::bigint as "{column}"'
        for (column,) in con.execute(
            "select column_name from duckdb_columns() where database_name = current_database() "
            "and schema_name = ? and table_name = ? and data_type = 'HUGEINT' order by column_index",
            [schema, table],
        ).fetchall()
    ]
    replace = f" replace ({', '.join(hugeints)})" if hugeints else ""
    return f'select *{replace} from {schema}."{table}"'


def swap_exports(folder: Path) -> None:
    """Point `exports/marts` at `folder` atomically, then remove every other export folder."""
    link = folder.parent / LINK_NAME
    staged = folder.parent / f".{LINK_NAME}.link"
    staged.unlink(missing_ok=True)
    # A relative target: the warehouse folder may be moved or mounted elsewhere.
    staged.symlink_to(folder.name, target_is_directory=True)
    if link.is_dir() and not link.is_symlink():
        # A warehouse copied without keeping links (`cp -r`, a restore) holds a plain folder here,
        # which a rename cannot replace: tonight's set takes its place a moment after it goes.
        shutil.rmtree(link)
    os.replace(staged, link)
    for old in folder.parent.glob(f"{LINK_NAME}-*"):
        if old.name != folder.name:
            shutil.rmtree(old)
