"""A local PostgreSQL server for the `postgres` dbt target, and the lake loaded into it.

The models are portable (docs/portability.md): `dbt build --target postgres` builds them on
PostgreSQL once `load_lake` has copied the landed Parquet tables into the server, one table per
entity in a schema per source (`crm.customers`), which is where the dbt sources point on that
target. The server comes from the `pgserver` wheel (PostgreSQL binaries on PyPI), so a machine
with only python3 can run it: it listens on a unix socket in its data folder, trusts local users,
and runs as a `pgserver` system user when started as root.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pgserver
import psycopg2
from pgserver._commands import pg_ctl
from pgserver.utils import PostmasterInfo

from ingestion.contracts import ENTITIES, LINEAGE_COLUMNS, Column

# The contracts use DuckDB type names; these are the PostgreSQL ones where they differ.
_PG_TYPES = {"DOUBLE": "double precision"}


@dataclass(frozen=True)
class PostgresServer:
    host: str  # unix socket folder, or an address
    port: int
    user: str
    database: str

    def dbt_env(self) -> dict[str, str]:
        """The environment the `postgres` output of dbt_project/profiles.yml reads."""
        return {
            "CX_PG_HOST": self.host,
            "CX_PG_PORT": str(self.port),
            "CX_PG_USER": self.user,
            "CX_PG_DATABASE": self.database,
        }

    def connect(self) -> psycopg2.extensions.connection:
        return psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=self.database)


def start_server(data_dir: Path) -> PostgresServer:
    """Start PostgreSQL on `data_dir` (initialised on first use), or attach to the one running there.

    The server keeps running until `stop_server`, or until the last Python process that started or
    attached to it exits.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    info = pgserver.get_server(data_dir, cleanup_mode="stop").get_postmaster_info()
    host = str(info.socket_dir) if info.socket_dir is not None else info.hostname
    server = PostgresServer(host=host, port=info.port or 5432, user="postgres", database="postgres")
    # sessions run in UTC whatever the machine's zone, like the DuckDB build (profiles.yml)
    with closing(server.connect()) as connection, connection.cursor() as cursor:
        cursor.execute(f"alter database {_quote(server.database)} set timezone to 'UTC'")
        connection.commit()
    return server


def stop_server(data_dir: Path) -> None:
    """Stop the server running on `data_dir`, if any."""
    data_dir = Path(data_dir).resolve()
    handle = pgserver.PostgresServer._instances.get(data_dir)
    if handle is not None:
        handle.cleanup()  # stops it when this process is the last one attached
        pgserver.PostgresServer._instances.pop(data_dir, None)
    info = PostmasterInfo.read_from_pgdata(data_dir)
    if info is not None and info.is_running():
        # started by another process: stop it as the user it runs as (pgserver's own user under root)
        user = data_dir.owner() if os.geteuid() == 0 else None
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pg_type(column: Column) -> str:
    return _PG_TYPES.get(column.type, column.type.lower())


def load_lake(lake: Path, server: PostgresServer) -> dict[str, int]:
    """Copy every landed entity of the lake into PostgreSQL as `<source>.<entity>`, replacing it.

    The columns and types are those of the contract (ingestion/contracts.py, the same as the dbt
    sources), lineage columns last; timestamps stay `timestamp` (without time zone) in UTC. Each
    table is read by DuckDB and streamed to the server with COPY, in one transaction per table, so
    a reader sees the old table or the new one. Returns the rows loaded per `source.entity`.
    """
    lake = Path(lake)
    loaded: dict[str, int] = {}
    with duckdb.connect() as duck, closing(server.connect()) as pg, tempfile.TemporaryDirectory() as scratch:
        duck.execute("set TimeZone = 'UTC'")
        for entity in ENTITIES:
            folder = entity.folder(lake)
            if not any(folder.glob("*.parquet")):
                continue
            columns = (*entity.columns, *LINEAGE_COLUMNS)
            pattern = str(folder / "*.parquet").replace("'", "''")
            select = ", ".join(f"cast({_quote(c.name)} as {c.type}) as {_quote(c.name)}" for c in columns)
            csv = Path(scratch) / f"{entity.source}__{entity.name}.csv"
            csv_sql = str(csv).replace("'", "''")
            rows = duck.execute(
                f"copy (select {select} from read_parquet('{pattern}', union_by_name = true)) "
                f"to '{csv_sql}' (format csv, header false)"
            ).fetchone()[0]
            table = f"{_quote(entity.source)}.{_quote(entity.name)}"
            definition = ", ".join(f"{_quote(c.name)} {_pg_type(c)}" for c in columns)
            with pg.cursor() as cur:
                cur.execute(f"create schema if not exists {_quote(entity.source)}")
                cur.execute(f"drop table if exists {table}")
                cur.execute(f"create table {table} ({definition})")
                with csv.open("rb") as f:
                    cur.copy_expert(f"copy {table} from stdin with (format csv)", f)
                cur.execute(f"analyze {table}")
            pg.commit()
            csv.unlink()
            loaded[entity.qualified_name] = rows
    return loaded
