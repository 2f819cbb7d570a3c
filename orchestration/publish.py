"""Publish: the tested marts replace the serving database in one atomic step.

The serving database is built as a new file beside the serving one - the marts copied from the
build database with their table and column comments, the run record as `ops` tables, a privacy check
over every text column - then renamed over it, and the marts' Parquet exports switched to the new
night's (orchestration/exports.py). Readers holding the old file keep a consistent snapshot; new connections see the
new file; a crash at any moment leaves either the old or the new file, never a mix.
"""

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb

from ingestion.settings import Paths
from orchestration.dbt import cx_dbt_models
from orchestration.exports import exports_dir, swap_exports, write_exports
from orchestration.run_record import run_row, save, write_ops_tables

log = logging.getLogger(__name__)

# Only these schemas reach BI tools: staging and intermediate hold personal data (emails, names).
SERVED_SCHEMAS = ("marts",)
# The incremental models' high-water mark (docs/incremental.md): when rows were landed is build
# bookkeeping, and would make the same extracts give different marts on different days.
BUILD_ONLY_COLUMNS = ("_loaded_at",)
# Free text may reach BI tools only in the columns allowed by docs/privacy.md, masked by the models;
# the publish refuses any served text column that still holds an email address.
EMAIL_PATTERN = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"


class PrivacyError(Exception):
    """A served column holds personal data it must not."""


def check_privacy(con: duckdb.DuckDBPyConnection) -> None:
    """Fail the publish if any served text column holds an email address."""
    columns = con.execute(
        "select schema_name, table_name, column_name from duckdb_columns() "
        "where data_type = 'VARCHAR' and schema_name in (select unnest(?::varchar[]))",
        [list(SERVED_SCHEMAS)],
    ).fetchall()
    leaks = [
        f"{schema}.{table}.{column}"
        for schema, table, column in columns
        if con.execute(
            # Every address holds an '@': the plain search skips the regular expression on most rows.
            f'select count(*) from {schema}."{table}" where contains("{column}", \'@\') '
            f'and regexp_matches("{column}", ?)',
            [EMAIL_PATTERN],
        ).fetchone()[0]
    ]
    if leaks:
        raise PrivacyError(f"email addresses found in served columns: {', '.join(leaks)}")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def copy_comments(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> None:
    """Copy the table and column comments dbt persisted (persist_docs) from the build database: BI tools
    show them as descriptions."""
    comment = con.execute(
        "select comment from duckdb_tables() where database_name = 'build' and schema_name = ? and table_name = ?",
        [schema, table],
    ).fetchone()[0]
    if comment:
        con.execute(f'comment on table {schema}."{table}" is {_quote(comment)}')
    for column, column_comment in con.execute(
        "select column_name, comment from duckdb_columns() where database_name = 'build' and schema_name = ? "
        "and table_name = ? and comment is not null and column_name not in (select unnest(?::varchar[]))",
        [schema, table, list(BUILD_ONLY_COLUMNS)],
    ).fetchall():
        con.execute(f'comment on column {schema}."{table}"."{column}" is {_quote(column_comment)}')


def _stage(paths: Paths) -> Path:
    staged = paths.serving_db.with_name(f".{paths.serving_db.name}.publishing")
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.unlink(missing_ok=True)  # left by a crashed publish
    Path(f"{staged}.wal").unlink(missing_ok=True)
    return staged


def _swap(staged: Path, serving_db: Path) -> None:
    with staged.open("rb+") as f:
        os.fsync(f.fileno())
    # A WAL left by a crashed writer would be replayed onto the new file: the serving database is
    # only ever opened read-only, so any WAL beside it is stale.
    Path(f"{serving_db}.wal").unlink(missing_ok=True)
    os.replace(staged, serving_db)
    folder = os.open(serving_db.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a power cut
    finally:
        os.close(folder)


@contextmanager
def _publishing_lock(paths: Paths) -> Iterator[None]:
    """One publisher at a time (a run's publish and another run's failure hook share the staged file)."""
    lock = paths.serving_db.with_name(f".{paths.serving_db.name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def publish(paths: Paths) -> dict[str, int]:
    """Build the new serving database from the build database's marts, then rename it over."""
    with _publishing_lock(paths):
        return _publish(paths)


def _publish(paths: Paths) -> dict[str, int]:
    staged = _stage(paths)
    con = duckdb.connect(str(staged))
    try:
        con.execute(f"attach '{paths.build_db}' as build (read_only)")
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'build' "
            "and schema_name in (select unnest(?::varchar[])) order by 1, 2",
            [list(SERVED_SCHEMAS)],
        ).fetchall()
        rows = {}
        for schema, table in tables:
            con.execute(f"create schema if not exists {schema}")
            columns = ", ".join(
                f'"{c}"'
                for (c,) in con.execute(
                    "select column_name from duckdb_columns() where database_name = 'build' "
                    "and schema_name = ? and table_name = ? and column_name not in (select unnest(?::varchar[])) "
                    "order by column_index",
                    [schema, table, list(BUILD_ONLY_COLUMNS)],
                ).fetchall()
            )
            con.execute(f'create table {schema}."{table}" as select {columns} from build.{schema}."{table}"')
            copy_comments(con, schema, table)
            rows[f"{schema}.{table}"] = con.execute(f'select count(*) from {schema}."{table}"').fetchone()[0]
        con.execute("detach build")
        check_privacy(con)
        write_ops_tables(con, paths)
        con.execute("checkpoint")
        exports = write_exports(con, exports_dir(paths.root))
    finally:
        con.close()
    _swap(staged, paths.serving_db)
    swap_exports(exports)
    log.info("published %d tables -> %s", len(rows), paths.serving_db)
    return rows


def publish_run_record(paths: Paths) -> None:
    """Refresh only the `ops` tables of the serving database (after a failed run): marts untouched."""
    with _publishing_lock(paths):
        _publish_run_record(paths)


def _publish_run_record(paths: Paths) -> None:
    staged = _stage(paths)
    if paths.serving_db.exists():
        with paths.serving_db.open("rb") as source, staged.open("wb") as target:
            target.write(source.read())
    con = duckdb.connect(str(staged))
    try:
        write_ops_tables(con, paths)
        con.execute("checkpoint")
    finally:
        con.close()
    _swap(staged, paths.serving_db)


def run_started_at(instance: dg.DagsterInstance, run_id: str) -> datetime:
    stats = instance.get_run_stats(run_id)
    started = stats.start_time if stats and stats.start_time else None
    return datetime.fromtimestamp(started, UTC).replace(tzinfo=None) if started else datetime.now(UTC)


@dg.asset(
    deps=[cx_dbt_models],
    group_name="serving",
    kinds={"duckdb"},
    description="The serving database BI tools read: the marts and the run record, replaced atomically "
    "only after every upstream step and check passed.",
)
def serving_database(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    paths = Paths.from_env()
    save(
        paths,
        context.run_id,
        "run",
        run_row(context.run_id, run_started_at(context.instance, context.run_id), "succeeded"),
    )
    rows = publish(paths)
    return dg.MaterializeResult(
        metadata={"path": str(paths.serving_db), "tables": dg.MetadataValue.json(rows)}
    )


@dg.failure_hook
def record_failed_run(context: dg.HookContext) -> None:
    """A failed step still leaves a record in the serving database's `ops` tables (marts untouched)."""
    paths = Paths.from_env()
    message = f"step {context.op.name} failed: {context.op_exception}".strip()
    save(
        paths,
        context.run_id,
        "run",
        run_row(context.run_id, run_started_at(context.instance, context.run_id), "failed", message[:4000]),
    )
    publish_run_record(paths)
