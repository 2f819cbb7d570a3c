"""Landing: extract files -> typed Parquet in the lake, with lineage columns.

One extract file becomes one Parquet file `lake/<source>/<entity>/<stem>.parquet` and a manifest
`<stem>.landed.json` written last, so a file counts as landed only once both exist. Landing is
idempotent by checksum: the same file again is a no-op, a changed file under a landed name is an
error. Rows that cannot be typed (a required value missing, a value that does not parse) go to
`quarantine/<source>/<entity>/<stem>.parquet` with the rule and the reason, so that for every file
rows read = rows landed + rows quarantined.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from expectations.gate import Outcome, validate
from expectations.suites import ROW_COUNT_HISTORY
from ingestion.contracts import ENTITIES, FILE_NAME, LINEAGE_COLUMNS, SOURCES, Column, Entity, entities_of
from ingestion.settings import Paths

log = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".landed.json"
SCHEMA_FILE = "_schema.parquet"
# Rows validated together by the gate: enough to amortise a GX run (about a second each), few enough
# that GX's pandas copies stay near 1 GiB; a batch closes at whichever limit it reaches first.
GATE_BATCH_ROWS = 1_000_000
GATE_BATCH_FILES = 400


class LandingError(Exception):
    """A whole file could not land. Names the file and the rule it broke."""

    def __init__(self, file: str, rule: str, detail: str) -> None:
        super().__init__(f"{file}: rejected ({rule}): {detail}")
        self.file, self.rule, self.detail = file, rule, detail


@dataclass(frozen=True)
class ExtractFile:
    path: Path
    relative: str  # path below the extracts folder, as recorded in lineage
    entity: Entity
    extract_date: date
    fmt: str

    @property
    def stem(self) -> str:
        return self.path.name.rsplit(".", 1)[0]


@dataclass
class LandingResult:
    file: str
    entity: str
    status: str  # "landed" or "skipped" (landed before with the same checksum)
    checksum: str
    rows_read: int
    rows_landed: int
    rows_quarantined: int
    loaded_at: str
    warnings: list[str] = field(default_factory=list)
    erased_rows: int = 0  # rows removed later by erasure requests (ingestion/erasure.py)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def discover(paths: Paths, source: str) -> tuple[list[ExtractFile], list[LandingError]]:
    """The extract files waiting for one source, in a stable order, and the files it cannot accept."""
    found: list[ExtractFile] = []
    errors: list[LandingError] = []
    source_dir = paths.extracts / source
    if not source_dir.exists():
        return found, errors
    known = {e.name: e for e in entities_of(source)}
    for path in sorted(p for p in source_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
        relative = path.relative_to(paths.extracts).as_posix()
        parts = path.relative_to(source_dir).parts
        entity = known.get(parts[0]) if len(parts) == 2 else None
        if entity is None:
            errors.append(
                LandingError(
                    relative,
                    "layout",
                    f"expected {source}/<entity>/<entity>_YYYY-MM-DD.csv "
                    f"with <entity> one of {sorted(known)}",
                )
            )
            continue
        match = FILE_NAME.match(path.name)
        if not match or match["entity"] != entity.name:
            errors.append(
                LandingError(relative, "file name", f"expected {entity.name}_YYYY-MM-DD.<csv|jsonl|parquet>")
            )
            continue
        try:
            extract_date = date.fromisoformat(match["extract_date"])
        except ValueError:
            errors.append(
                LandingError(relative, "file name", f"{match['extract_date']} is not a calendar date")
            )
            continue
        found.append(ExtractFile(path, relative, entity, extract_date, match["fmt"]))
    return found, errors


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _typed(column: Column) -> str:
    """SQL that types the raw text of a column; NULL where it is empty or does not parse."""
    raw = f"nullif(trim({_quote(column.name)}), '')"
    if column.type == "VARCHAR":
        return f"nullif({_quote(column.name)}, '')"
    if column.type == "TIMESTAMP":
        # Through TIMESTAMPTZ so that offsets are honoured; the session runs in UTC, and a time
        # without an offset is taken as UTC.
        return f"try_cast(try_cast({raw} as timestamptz) as timestamp)"
    return f"try_cast({raw} as {column.type})"


def _problems(column: Column) -> list[str]:
    name = _quote(column.name)
    raw = f"nullif(trim({name}), '')"
    label = column.name.replace("'", "''")
    checks = []
    if column.required:
        checks.append(f"case when {raw} is null then 'required: column ''{label}'' is empty' end")
    if column.type != "VARCHAR":
        checks.append(
            f"case when {raw} is not null and {_typed(column)} is null then "
            f"'type: column ''{label}'' value ''' || left({name}, 80) || ''' is not a valid {column.type}' end"
        )
    return checks


def _read_raw(con: duckdb.DuckDBPyConnection, ef: ExtractFile) -> list[str]:
    """Load the file as text into table `raw` (with `_row_number`); return its column names."""
    path = str(ef.path).replace("'", "''")
    if ef.fmt == "csv":
        relation = (
            f"select * from read_csv('{path}', all_varchar = true, header = true, delim = ',', quote = '\"', "
            "escape = '\"', strict_mode = true, null_padding = false, skip = 0) with ordinality"
        )
        con.execute(f"create temp table src as {relation}")
        columns = [c for c in con.table("src").columns if c != "ordinality"]
        select = ", ".join(f"{_quote(c)} as {_quote(c.strip().lower())}" for c in columns)
    elif ef.fmt == "jsonl":
        con.execute(
            f"create temp table src as select json, ordinality from "
            f"read_json_objects('{path}', format = 'newline_delimited') with ordinality"
        )
        columns = [
            r[0]
            for r in con.execute("select distinct unnest(json_keys(json)) from src order by 1").fetchall()
        ]
        select = ", ".join(f"json ->> {_sql_string(c)} as {_quote(c.strip().lower())}" for c in columns)
    else:
        con.execute(f"create temp table src as select * from read_parquet('{path}') with ordinality")
        columns = [c for c in con.table("src").columns if c != "ordinality"]
        select = ", ".join(f"cast({_quote(c)} as varchar) as {_quote(c.strip().lower())}" for c in columns)
    con.execute(f"create temp view raw as select ordinality as _row_number, {select} from src")
    return [c.strip().lower() for c in columns]


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _manifest_path(paths: Paths, ef: ExtractFile) -> Path:
    return ef.entity.folder(paths.lake) / f"{ef.stem}{MANIFEST_SUFFIX}"


def read_manifest(paths: Paths, ef: ExtractFile) -> dict | None:
    path = _manifest_path(paths, ef)
    return json.loads(path.read_text()) if path.exists() else None


def _split(
    con: duckdb.DuckDBPyConnection,
    prepared: Prepared,
    failures: pd.DataFrame,
    columns: str,
    lake_file: Path,
    quarantine_file: Path,
    warnings: list[str],
) -> tuple[int, int, list[str]]:
    """Write the passing rows to the lake and the failing ones to quarantine; return the counts."""
    entity = prepared.ef.entity
    con.execute("create temp table failed (_row_number bigint, _rule varchar, _reason varchar)")
    if len(failures):
        con.register("failures", failures)
        con.execute(
            "insert into failed select _row_number, first(_rule order by _rule), "
            "string_agg(_reason, '; ' order by _rule) from failures group by _row_number"
        )
    # Quarantine keeps every value as text, as typing failures do, with every rule the row broke.
    as_text = ", ".join(f"cast({_quote(c.name)} as varchar) as {_quote(c.name)}" for c in entity.columns)
    lineage = ", ".join(_quote(c.name) for c in LINEAGE_COLUMNS)
    quarantined = f"select {as_text}, {lineage}, failed._rule, failed._reason from typed join failed using (_row_number)"
    if prepared.untyped is not None:
        con.register("untyped", prepared.untyped)
        quarantined = f"select * from untyped union all by name {quarantined}"
    passed = "(select * from typed anti join failed using (_row_number))"
    rows_landed, rows_quarantined = con.execute(
        f"select (select count(*) from {passed}), (select count(*) from ({quarantined}))"
    ).fetchone()
    _copy_atomically(con, f"select {columns} from {passed} order by _row_number", lake_file)
    if rows_quarantined:
        _copy_atomically(con, f"select * from ({quarantined}) order by _row_number", quarantine_file)
        warnings = [*warnings, f"{rows_quarantined} rows quarantined in {quarantine_file.name}"]
    else:
        quarantine_file.unlink(missing_ok=True)
    return rows_landed, rows_quarantined, warnings


def _copy_atomically(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # A staging name of this process's own: processes landing at once (land steps under Dagster's
    # multiprocess executor, if a deployment chooses it) all write the lake's schema files
    # (ensure_schema_files), and DuckDB locks the file it copies to.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        con.execute(f"copy ({query}) to {_sql_string(str(tmp))} (format parquet, compression zstd)")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class Prepared:
    """One new extract file read and typed, not yet written: the gate decides which rows land."""

    ef: ExtractFile
    checksum: str
    typed: pa.Table  # rows that typed: contract columns + lineage
    untyped: pa.Table | None  # rows that did not (None if none): raw text + lineage + _rule + _reason
    rows_read: int
    warnings: list[str]


def prepare_file(
    ef: ExtractFile, paths: Paths, loaded_at: datetime, db: duckdb.DuckDBPyConnection
) -> Prepared | LandingResult:
    """Read and type one extract file, or return its earlier result when it has landed before.

    Raises LandingError when the file as a whole cannot be accepted. `db` is an in-memory DuckDB
    shared by the files of a run (opening one per file cost more than landing it); each file works
    in its own cursor, whose temp tables vanish with it.
    """
    checksum = sha256(ef.path)
    previous = read_manifest(paths, ef)
    if previous is not None:
        if previous["checksum"] == checksum:
            return LandingResult(**{**previous, "status": "skipped"})
        raise LandingError(
            ef.relative,
            "changed file",
            f"a file of this name was landed on {previous['loaded_at']} with checksum {previous['checksum'][:12]}; "
            f"this one has {checksum[:12]}. Send corrections under a new extract date instead of overwriting.",
        )
    if ef.path.stat().st_size == 0:
        raise LandingError(ef.relative, "empty file", "the file has no bytes, not even a header")

    con = db.cursor()
    try:
        con.execute("set TimeZone = 'UTC'")
        try:
            columns = _read_raw(con, ef)
        except duckdb.Error as exc:
            text = str(exc).lower()
            # DuckDB names the encoding problem a few lines into its message
            rule = "encoding" if "invalid unicode" in text or "invalid utf-8" in text else "unreadable"
            raise LandingError(ef.relative, rule, str(exc).splitlines()[0]) from exc
        return _type(con, ef, columns, checksum, loaded_at)
    finally:
        con.close()


def _type(
    con: duckdb.DuckDBPyConnection,
    ef: ExtractFile,
    columns: list[str],
    checksum: str,
    loaded_at: datetime,
) -> Prepared:
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        # e.g. JSON keys `Event_ID` and `event_id`: which one is meant cannot be decided here
        raise LandingError(
            ef.relative,
            "duplicate columns",
            f"columns {duplicated} appear more than once (names compare case-blind)",
        )
    entity = ef.entity
    warnings: list[str] = []
    missing_required = [c.name for c in entity.columns if c.required and c.name not in columns]
    if missing_required:
        raise LandingError(
            ef.relative, "missing columns", f"required columns {missing_required} are not in the file"
        )
    missing = [c.name for c in entity.columns if c.name not in columns]
    if missing:
        warnings.append(f"optional columns {missing} are missing and land as NULL")
    extra = [c for c in columns if c not in entity.column_names]
    if extra:
        warnings.append(f"columns {extra} are not in the contract and are ignored")
    base = "raw"
    if missing:
        nulls = ", ".join(f"cast(null as varchar) as {_quote(name)}" for name in missing)
        con.execute(f"create temp view padded as select *, {nulls} from raw")
        base = "padded"

    problems = ", ".join(p for c in entity.columns for p in _problems(c)) or "null"
    lineage = (
        f"{_sql_string(ef.relative)} as _source_file, {_sql_string(checksum)} as _file_checksum, "
        f"_row_number, date {_sql_string(ef.extract_date.isoformat())} as _extract_date, "
        f"timestamp {_sql_string(loaded_at.strftime('%Y-%m-%d %H:%M:%S.%f'))} as _loaded_at"
    )
    con.execute(
        f"create temp table checked as select *, list_filter([{problems}], p -> p is not null) as _problems from {base}"
    )
    typed = ", ".join(f"cast({_typed(c)} as {c.type}) as {_quote(c.name)}" for c in entity.columns)
    raw_values = ", ".join(_quote(c.name) for c in entity.columns)
    rows_read, untyped_rows = con.execute(
        "select count(*), count(*) filter (where len(_problems) > 0) from checked"
    ).fetchone()
    if rows_read == 0:
        warnings.append("the file has a header but no rows")
    # Arrow, not a cursor kept open: hundreds of open cursors slow every DuckDB statement down.
    # Each statement costs milliseconds, and a night lands thousands of files: skip the empty ones.
    untyped = None
    if untyped_rows:
        untyped = con.execute(
            f"select {raw_values}, {lineage}, split_part(_problems[1], ':', 1) as _rule, "
            f"array_to_string(_problems, '; ') as _reason from checked where len(_problems) > 0"
        ).to_arrow_table()
    return Prepared(
        ef,
        checksum,
        con.execute(f"select {typed}, {lineage} from checked where len(_problems) = 0").to_arrow_table(),
        untyped,
        rows_read,
        warnings,
    )


def write_file(
    prepared: Prepared,
    failures: pd.DataFrame,
    warnings: list[str],
    paths: Paths,
    loaded_at: datetime,
    db: duckdb.DuckDBPyConnection,
) -> LandingResult:
    """Write the rows that passed to the lake and the rest to quarantine, then the manifest (last).

    `failures` holds the gate's failing rows of this file (_row_number, _rule, _reason).
    """
    ef, entity = prepared.ef, prepared.ef.entity
    lake_file = entity.folder(paths.lake) / f"{ef.stem}.parquet"
    quarantine_file = entity.folder(paths.quarantine) / f"{ef.stem}.parquet"
    columns = ", ".join(_quote(c.name) for c in (*entity.columns, *LINEAGE_COLUMNS))
    con = db.cursor()
    try:
        con.register("typed", prepared.typed)
        if not len(failures) and prepared.untyped is None:
            # the usual night: every row passed
            _copy_atomically(con, f"select {columns} from typed order by _row_number", lake_file)
            rows_landed, rows_quarantined = prepared.typed.num_rows, 0
            quarantine_file.unlink(missing_ok=True)
        else:
            rows_landed, rows_quarantined, warnings = _split(
                con, prepared, failures, columns, lake_file, quarantine_file, warnings
            )
    finally:
        con.close()
    result = LandingResult(
        file=ef.relative,
        entity=entity.qualified_name,
        status="landed",
        checksum=prepared.checksum,
        rows_read=prepared.rows_read,
        rows_landed=rows_landed,
        rows_quarantined=rows_quarantined,
        loaded_at=loaded_at.isoformat(),
        warnings=[*prepared.warnings, *warnings],
    )
    if result.rows_read != result.rows_landed + result.rows_quarantined:
        raise AssertionError(f"{ef.relative}: rows read != landed + quarantined")  # guards the invariant
    manifest = _manifest_path(paths, ef)
    tmp = manifest.with_name(f".{manifest.name}.tmp")
    tmp.write_text(json.dumps(asdict(result), indent=2) + "\n")
    os.replace(tmp, manifest)
    return result


def ensure_schema_files(paths: Paths) -> None:
    """A zero-row Parquet file per entity, so that the lake's globs match before any file has landed."""
    con = duckdb.connect()
    try:
        for entity in ENTITIES:
            target = entity.folder(paths.lake) / SCHEMA_FILE
            if target.exists():
                continue
            columns = ", ".join(
                f"cast(null as {c.type}) as {_quote(c.name)}" for c in (*entity.columns, *LINEAGE_COLUMNS)
            )
            _copy_atomically(con, f"select {columns} limit 0", target)
    finally:
        con.close()


@dataclass
class SourceReport:
    source: str
    results: list[LandingResult]
    errors: list[LandingError]
    outcomes: list[Outcome] = field(default_factory=list)  # expectation results of the gate
    gate_seconds: dict[str, float] = field(default_factory=dict)  # per entity: time spent in the gate

    def totals(self, entity: str | None = None) -> dict[str, int]:
        rows = [r for r in self.results if entity is None or r.entity == entity]
        return {
            "files_landed": sum(r.status == "landed" for r in rows),
            "files_skipped": sum(r.status == "skipped" for r in rows),
            "rows_read": sum(r.rows_read for r in rows if r.status == "landed"),
            "rows_landed": sum(r.rows_landed for r in rows if r.status == "landed"),
            "rows_quarantined": sum(r.rows_quarantined for r in rows if r.status == "landed"),
        }


def land_source(
    paths: Paths,
    source: str,
    loaded_at: datetime | None = None,
    days: tuple[date, date] | None = None,
    first_day: date | None = None,
) -> SourceReport:
    """Land every new extract file of one source through the quality gate.

    `days` (first, last; inclusive) limits the run to the files of those extract dates, as a
    daily partition or a backfill does; files whose name carries no date are rejected whatever
    the window, and so are files dated before `first_day` (the first day the warehouse accepts),
    so that no file waits unseen.

    Files are read and typed in parallel, each entity's new rows are validated together by its
    expectation suite (one GX run per batch of files rather than per file), and then each file's
    passing rows land while failing rows go to quarantine. File-level errors are collected, and the
    rejected files moved aside with a reason file, rather than stopping the other files.
    """
    paths.ensure()
    ensure_schema_files(paths)
    loaded_at = loaded_at or datetime.now(UTC).replace(tzinfo=None)
    files, errors = discover(paths, source)
    if first_day is not None:
        errors += [
            LandingError(
                ef.relative,
                "extract date",
                f"{ef.extract_date} is before the warehouse's first day {first_day} (CX_FIRST_DAY); "
                "set CX_FIRST_DAY earlier, move the file back into the extracts folder and run again",
            )
            for ef in files
            if ef.extract_date < first_day
        ]
        files = [ef for ef in files if ef.extract_date >= first_day]
    if days is not None:
        files = [ef for ef in files if days[0] <= ef.extract_date <= days[1]]
    tally = _GateTally()
    with duckdb.connect() as db, ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:

        def attempt(ef: ExtractFile) -> Prepared | LandingResult | LandingError:
            try:
                return prepare_file(ef, paths, loaded_at, db)
            except LandingError as exc:
                return exc

        for entity in entities_of(source):
            entity_files = [ef for ef in files if ef.entity == entity]
            history = _recent_row_counts(paths, entity)
            pending: list[Prepared] = []

            # Files are typed a few at a time, so no more than one batch's rows wait in memory.
            step = 4 * (os.cpu_count() or 1)
            for start in range(0, len(entity_files), step):
                # map keeps the discovery order, so reports are stable
                for outcome in pool.map(attempt, entity_files[start : start + step]):
                    if isinstance(outcome, LandingError):
                        errors.append(outcome)
                    elif isinstance(outcome, LandingResult):
                        tally.results.append(outcome)
                    else:
                        pending.append(outcome)
                if (
                    sum(p.typed.num_rows for p in pending) >= GATE_BATCH_ROWS
                    or len(pending) >= GATE_BATCH_FILES
                ):
                    _gate_and_write(entity, pending, history, paths, loaded_at, db, pool, tally)
                    pending = []
            if pending:
                _gate_and_write(entity, pending, history, paths, loaded_at, db, pool, tally)
    for error in errors:
        reject(paths, error)
    report = SourceReport(source, tally.results, errors, tally.outcomes, tally.seconds)
    landed = report.totals()
    log.info(
        "landed %s: %d new files (%d already landed), %d rows, %d quarantined, %d rejected files",
        source,
        landed["files_landed"],
        landed["files_skipped"],
        landed["rows_landed"],
        landed["rows_quarantined"],
        len(errors),
    )
    return report


@dataclass
class _GateTally:
    """What the gate batches of one source add up to."""

    results: list[LandingResult] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _gate_and_write(
    entity: Entity,
    batch: list[Prepared],
    history: list[int],
    paths: Paths,
    loaded_at: datetime,
    db: duckdb.DuckDBPyConnection,
    pool: ThreadPoolExecutor,
    tally: _GateTally,
) -> None:
    """Validate one batch of an entity's files together, then write each file's rows in parallel."""
    started = time.perf_counter()
    gate = validate(
        entity, pa.concat_tables([p.typed for p in batch]).to_pandas(), loaded_at, history, paths.root
    )
    tally.outcomes += gate.outcomes
    tally.seconds[entity.qualified_name] = (
        tally.seconds.get(entity.qualified_name, 0.0) + time.perf_counter() - started
    )
    by_file = dict(tuple(gate.failures.groupby("_source_file")))
    no_failures = gate.failures.iloc[0:0]
    writes = [
        pool.submit(
            write_file,
            p,
            by_file.get(p.ef.relative, no_failures),
            gate.warnings.get(p.ef.relative, []),
            paths,
            loaded_at,
            db,
        )
        for p in batch
    ]
    tally.results += [w.result() for w in writes]
    history += [p.rows_read for p in batch]


def _recent_row_counts(paths: Paths, entity: Entity) -> list[int]:
    """Rows read per landed file of the entity, oldest first: the baseline for the row-count check."""
    manifests = sorted(entity.folder(paths.lake).glob(f"*{MANIFEST_SUFFIX}"))[-ROW_COUNT_HISTORY:]
    return [json.loads(m.read_text())["rows_read"] for m in manifests]


def reject(paths: Paths, error: LandingError) -> None:
    """Move a rejected file out of the extracts folder, with a reason file beside it."""
    source = paths.extracts / error.file
    target = paths.rejected / error.file
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.exists():
        os.replace(source, target)
    reason = target.with_name(f"{target.name}.reason.json")
    reason.write_text(
        json.dumps(
            {
                "file": error.file,
                "rule": error.rule,
                "detail": error.detail,
                "rejected_at": datetime.now(UTC).isoformat(),
            },
            indent=2,
        )
        + "\n"
    )


def pending_files(paths: Paths) -> list[ExtractFile]:
    """Well-named extract files of every source that have not landed yet (no manifest in the lake)."""
    return [
        ef
        for source in SOURCES
        for ef in discover(paths, source)[0]
        if not _manifest_path(paths, ef).exists()
    ]
