"""GDPR erasure: remove the people named in erasure requests from every file layer of the warehouse.

Requests arrive as `<extracts>/privacy/erasure_requests/erasure_requests_<YYYY-MM-DD>.csv` with the
columns `request_id,customer_id,email,requested_at`; each row names a person by customer id, email
or both (rows sharing a request id are one request). Every run applies every request again, so rows
that arrive after a request (a late order, an anonymous event on the person's device) go too:

1. Resolve each request to identifiers: its customer ids and emails, the CRM accounts holding one of
   them and their emails (repeated until nothing new turns up, so both accounts of a person with two
   go), the web visitor ids seen with those customer ids, and the support tickets and survey
   invitations of those people (their ticket events and survey answers go with them).
2. Keep them as SHA-256 hashes in `lake/privacy/erasure_state.json`, so that later runs still
   recognise, say, a visitor id after every row linking it to the request is gone.
3. Rewrite, atomically, every extract, lake, quarantine and rejected file holding one of those
   identifiers without those rows; files without any are not touched. A rewritten extract that had
   landed gets its landing manifest checksum updated, so that landing still sees it as landed.
4. Append per request that something happened to a line of counts (never identifiers) to
   `lake/privacy/erasure_log.jsonl`.

Values are compared as the dbt staging models compare them: ids trimmed, emails trimmed and
lower-cased. Run it before landing and never at the same time (both write the lake).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from ingestion.contracts import BY_NAME, ENTITIES, SOURCES, Entity
from ingestion.landing import MANIFEST_SUFFIX, ExtractFile, LandingResult, discover, sha256
from ingestion.settings import Paths

log = logging.getLogger(__name__)

REQUESTS_FOLDER = Path("privacy") / "erasure_requests"  # below the extracts folder
REQUEST_FILE = re.compile(r"^erasure_requests_\d{4}-\d{2}-\d{2}\.csv$")
PRIVACY_FOLDER = "privacy"  # below the lake folder: the state and the log
STATE_FILE = "erasure_state.json"
LOG_FILE = "erasure_log.jsonl"
LAYERS = ("extracts", "lake", "quarantine", "rejected")

# The identifier kind each contract column holds; a row goes when any of its columns holds an erased
# identifier. ticket_id and invitation_id take a removed ticket's history and a removed
# invitation's answers with them.
COLUMN_KIND: dict[str, str] = {
    "customer_id": "customer_id",
    "email": "email",
    "requester_email": "email",
    "respondent_email": "email",
    "visitor_id": "visitor_id",
    "ticket_id": "ticket_id",
    "invitation_id": "invitation_id",
}
KIND_LABELS = {
    "customer_id": "customers",
    "email": "emails",
    "visitor_id": "visitors",
    "ticket_id": "tickets",
    "invitation_id": "invitations",
}

# How identifiers lead to more: a row of `entity` holding a request's identifier in one of the `via`
# columns adds the values of its `found` columns to the request. Applied until nothing new turns up.
LINKS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("crm.customers", ("customer_id", "email"), ("customer_id", "email")),
    ("web.events", ("customer_id",), ("visitor_id",)),
    ("support.tickets", ("customer_id", "requester_email"), ("ticket_id",)),
    ("surveys.invitations", ("customer_id",), ("invitation_id",)),
)

# The manifest is read back into LandingResult, which rejects keys it does not know: record the
# erased row count as a field only once LandingResult has one, until then as a warning line.
_MANIFEST_HAS_ERASED_ROWS = "erased_rows" in {f.name for f in fields(LandingResult)}


class ErasureError(Exception):
    """The run stopped because a rewrite would not remove exactly the rows it was meant to."""


@dataclass
class ErasureRequest:
    request_id: str
    requested_at: str
    customer_ids: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)  # normalised


@dataclass
class RequestReport:
    request_id: str
    requested_at: str
    resolved: dict[str, int]  # identifiers known for the request: customers, emails, visitors, ...
    rows_removed: dict[str, int]  # per layer: extracts, lake, quarantine, rejected (this run)
    rows_removed_by_entity: dict[str, dict[str, int]]  # "crm.orders" -> layer -> rows (this run)

    @property
    def total_removed(self) -> int:
        return sum(self.rows_removed.values())


@dataclass
class ErasureReport:
    run_at: str
    requests: list[RequestReport]
    files_rewritten: list[str]  # "<layer>/<path below the layer folder>"
    manifests_updated: list[str]  # extract files (relative to the extracts folder) re-recorded as landed
    problems: list[str]  # request rows or files that could not be applied; never holds identifiers

    def rows_removed(self) -> dict[str, int]:
        return {layer: sum(r.rows_removed[layer] for r in self.requests) for layer in LAYERS}

    def to_dict(self) -> dict:
        return {**asdict(self), "rows_removed": self.rows_removed()}


# --- identifiers -----------------------------------------------------------------------------------


def normalise(kind: str, value: object) -> str | None:
    """An identifier as compared: trimmed of spaces (DuckDB's trim strips only spaces), emails lower-cased."""
    if value is None:
        return None
    text = (value if isinstance(value, str) else json.dumps(value)).strip(" ")
    if kind == "email":
        text = text.lower()
    return text or None


def _normalised_sql(kind: str, expression: str) -> str:
    """The SQL twin of `normalise`."""
    text = f"trim(cast({expression} as varchar))"
    if kind == "email":
        text = f"lower({text})"
    return f"nullif({text}, '')"


def identifier_hash(value: str) -> str:
    """How the state refers to an identifier; equals DuckDB's `sha256(value)`."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _id_columns(entity: Entity) -> list[str]:
    return [c for c in entity.column_names if c in COLUMN_KIND]


def _column_key(name: str) -> str:
    """A file's column name as landing reads it (plus a byte-order mark a spreadsheet may add)."""
    return name.replace("\ufeff", "").strip().lower()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --- requests and state ----------------------------------------------------------------------------


def read_requests(paths: Paths) -> tuple[list[ErasureRequest], list[str]]:
    """Every request in the request files, oldest first, and the rows or files that could not be read."""
    folder = paths.extracts / REQUESTS_FOLDER
    requests: dict[str, ErasureRequest] = {}
    problems: list[str] = []
    if folder.is_dir():
        for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
            if REQUEST_FILE.match(path.name):
                _read_request_file(path, requests, problems)
            else:
                problems.append(f"{path.name}: not read, expected erasure_requests_YYYY-MM-DD.csv")
    return sorted(requests.values(), key=lambda r: (r.requested_at, r.request_id)), problems


def _read_request_file(path: Path, requests: dict[str, ErasureRequest], problems: list[str]) -> None:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [_column_key(h) for h in next(reader, [])]
        if "request_id" not in header or not {"customer_id", "email"} & set(header):
            problems.append(f"{path.name}: needs the columns request_id and customer_id or email")
            return
        for line, record in enumerate(reader, start=2):
            row = dict(zip(header, record, strict=False))
            request_id = (row.get("request_id") or "").strip()
            customer_id = normalise("customer_id", row.get("customer_id"))
            email = normalise("email", row.get("email"))
            if not request_id or not (customer_id or email):
                # Problems name the row, never its values: they end up in run logs.
                problems.append(f"{path.name} row {line}: needs a request_id and a customer_id or email")
                continue
            requested_at = (row.get("requested_at") or "").strip()
            request = requests.setdefault(request_id, ErasureRequest(request_id, requested_at))
            # Rows of one request may repeat it with other identifiers: the earliest date counts.
            request.requested_at = min((d for d in (request.requested_at, requested_at) if d), default="")
            request.customer_ids |= {customer_id} if customer_id else set()
            request.emails |= {email} if email else set()


def _state_path(paths: Paths) -> Path:
    return paths.lake / PRIVACY_FOLDER / STATE_FILE


def load_state(paths: Paths) -> dict[str, dict]:
    """request_id -> {"requested_at": ..., "identifiers": {kind: [sha256, ...]}}."""
    path = _state_path(paths)
    return json.loads(path.read_text())["requests"] if path.exists() else {}


def _with_state_only_requests(requests: list[ErasureRequest], state: dict[str, dict]) -> list[ErasureRequest]:
    """Requests whose file is gone stay in force through their hashes: an erased person must not return."""
    known = {r.request_id for r in requests}
    kept = [ErasureRequest(rid, entry["requested_at"]) for rid, entry in state.items() if rid not in known]
    return sorted([*requests, *kept], key=lambda r: (r.requested_at, r.request_id))


# --- reading the identifiers of every layer --------------------------------------------------------


def _table(entity: Entity) -> str:
    return f"ids_{entity.source}__{entity.name}"


@dataclass
class _Scan:
    """What reading the layers found besides the identifier tables."""

    extract_files: dict[str, ExtractFile]  # by absolute path, as DuckDB reports `filename`
    python_only: list[ExtractFile]  # text extracts DuckDB cannot read: checked row by row in Python
    problems: list[str]


def _scan_layers(con: duckdb.DuckDBPyConnection, paths: Paths) -> _Scan:
    """Fill one table per entity with (layer, file, normalised identifier columns) of every row."""
    scan = _Scan({}, [], [])
    by_entity: dict[str, list[ExtractFile]] = defaultdict(list)
    for source in SOURCES:
        files, errors = discover(paths, source)
        scan.problems += [f"extracts/{e.file}: not checked ({e.rule})" for e in errors]
        for ef in files:
            by_entity[ef.entity.qualified_name].append(ef)
            scan.extract_files[str(ef.path)] = ef
    for entity in ENTITIES:
        columns = ", ".join(f"{c} varchar" for c in _id_columns(entity))
        con.execute(f"create temp table {_table(entity)} (layer varchar, file varchar, {columns})")
        for layer, root in (("lake", paths.lake), ("quarantine", paths.quarantine)):
            folder = entity.folder(root)
            files = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))
            if files:
                _insert_rows(con, entity, layer, "parquet", [str(p) for p in files])
        for fmt in ("csv", "jsonl", "parquet"):
            files = [ef for ef in by_entity[entity.qualified_name] if ef.fmt == fmt]
            _insert_extract_rows(con, entity, files, scan)
    return scan


def _insert_extract_rows(
    con: duckdb.DuckDBPyConnection, entity: Entity, files: list[ExtractFile], scan: _Scan
) -> None:
    """All files of one format in one read; if one of them breaks that read, file by file."""
    if not files:
        return
    try:
        _insert_rows(con, entity, "extracts", files[0].fmt, [str(ef.path) for ef in files])
        return
    except duckdb.Error:
        pass
    for ef in files:
        try:
            _insert_rows(con, entity, "extracts", ef.fmt, [str(ef.path)])
        except duckdb.Error:
            # Landing will reject it too, but it may still hold the person: check it in Python.
            if ef.fmt == "parquet":
                scan.problems.append(f"extracts/{ef.relative}: not checked (unreadable)")
            else:
                scan.python_only.append(ef)


def _relation(con: duckdb.DuckDBPyConnection, fmt: str, files: list[str]) -> tuple[str, dict[str, list[str]]]:
    """FROM clause reading `files` as text, with a `filename` column, and contract column -> expressions."""
    listed = "[" + ", ".join(_sql_string(f) for f in files) + "]"
    if fmt == "jsonl":
        relation = f"read_json_objects({listed}, format = 'newline_delimited', filename = true)"
        keys = [
            r[0] for r in con.execute(f"select distinct unnest(json_keys(json)) from {relation}").fetchall()
        ]
        names = {k: f"json ->> {_sql_string(k)}" for k in keys}
    else:
        if fmt == "csv":
            relation = (
                f"read_csv({listed}, all_varchar = true, header = true, delim = ',', quote = '\"', "
                "escape = '\"', strict_mode = true, null_padding = false, union_by_name = true, filename = true)"
            )
        else:
            relation = f"read_parquet({listed}, union_by_name = true, filename = true)"
        names = {
            c: _quote(c) for c in con.sql(f"select * from {relation} limit 0").columns if c != "filename"
        }
    columns: dict[str, list[str]] = defaultdict(list)
    for name, expression in names.items():
        columns[_column_key(name)].append(expression)
    return relation, columns


def _insert_rows(
    con: duckdb.DuckDBPyConnection, entity: Entity, layer: str, fmt: str, files: list[str]
) -> None:
    relation, columns = _relation(con, fmt, files)
    values = []
    for column in _id_columns(entity):
        sources = columns.get(column, [])
        raw = f"coalesce({', '.join(sources)})" if sources else "null"
        values.append(_normalised_sql(COLUMN_KIND[column], raw))
    con.execute(
        f"insert into {_table(entity)} select {_sql_string(layer)}, filename, {', '.join(values)} from {relation}"
    )


# --- resolving requests ----------------------------------------------------------------------------


def _resolve(
    con: duckdb.DuckDBPyConnection, requests: list[ErasureRequest], state: dict[str, dict]
) -> dict[int, dict[str, set[str]]]:
    """Request rank -> kind -> raw identifiers found in the data (or given by the request)."""
    given: list[tuple[int, str, str]] = []
    hashed: list[tuple[int, str, str]] = []
    for rank, request in enumerate(requests):
        given += [(rank, "customer_id", v) for v in request.customer_ids]
        given += [(rank, "email", v) for v in request.emails]
        for kind, hashes in state.get(request.request_id, {}).get("identifiers", {}).items():
            hashed += [(rank, kind, h) for h in hashes]
    con.execute("create temp table req_ident (req integer, kind varchar, value varchar)")
    _insert_tuples(con, "req_ident", given)
    con.execute("create temp table state_hash (req integer, kind varchar, hash varchar)")
    _insert_tuples(con, "state_hash", hashed)
    for kind in sorted({kind for _, kind, _ in hashed}):
        # Identifiers remembered from earlier runs, as far as they still (or again) occur in the data.
        con.execute(
            f"insert into req_ident select distinct s.req, s.kind, v.value from state_hash s "
            f"join ({_values_sql(kind)}) v on s.hash = sha256(v.value) where s.kind = {_sql_string(kind)}"
        )
    while True:
        con.execute(f"create or replace temp table found as ({_links_sql()}) except select * from req_ident")
        if not con.execute("select count(*) from found").fetchone()[0]:
            break
        con.execute("insert into req_ident select * from found")
    resolved: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for rank, kind, value in con.execute("select distinct req, kind, value from req_ident").fetchall():
        resolved[rank][kind].add(value)
    return resolved


def _insert_tuples(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple[int, str, str]]) -> None:
    if rows:
        columns = list(zip(*rows, strict=True))
        con.execute(
            f"insert into {table} select unnest($1), unnest($2), unnest($3)",
            [list(columns[0]), list(columns[1]), list(columns[2])],
        )


def _values_sql(kind: str) -> str:
    """Every distinct identifier of one kind in the data."""
    return " union ".join(
        f"select {c} as value from {_table(e)} where {c} is not null"
        for e in ENTITIES
        for c in _id_columns(e)
        if COLUMN_KIND[c] == kind
    )


def _links_sql() -> str:
    parts = [
        f"select r.req, {_sql_string(COLUMN_KIND[found])} as kind, t.{found} as value "
        f"from {_table(BY_NAME[entity])} t join req_ident r "
        f"on r.kind = {_sql_string(COLUMN_KIND[via])} and r.value = t.{via} where t.{found} is not null"
        for entity, vias, founds in LINKS
        for via in vias
        for found in founds
        if found != via
    ]
    return " union ".join(parts)


def _new_state(
    requests: list[ErasureRequest], resolved: dict[int, dict[str, set[str]]], state: dict[str, dict]
) -> dict[str, dict]:
    """The state grows only: an identifier once linked to a request stays erased."""
    new: dict[str, dict] = {}
    for rank, request in enumerate(requests):
        old = state.get(request.request_id, {}).get("identifiers", {})
        identifiers = {}
        for kind in KIND_LABELS:
            hashes = set(old.get(kind, [])) | {identifier_hash(v) for v in resolved[rank][kind]}
            if hashes:
                identifiers[kind] = sorted(hashes)
        new[request.request_id] = {"requested_at": request.requested_at, "identifiers": identifiers}
    return new


# --- finding and removing rows ---------------------------------------------------------------------

# (entity, layer, file) -> request rank -> rows
Matches = dict[tuple[str, str, str], Counter[int]]


def _first_request(columns: list[tuple[str, str]]) -> tuple[str, str]:
    """SQL joins and expression giving the oldest request whose identifiers a row holds.

    `columns` are (kind, normalised SQL value) of the row's identifier columns; the row's alias is t.
    """
    joins = " ".join(
        f"left join erase m{i} on m{i}.kind = {_sql_string(kind)} and m{i}.value = {value}"
        for i, (kind, value) in enumerate(columns)
    )
    first = f"least({', '.join(f'm{i}.req' for i in range(len(columns)))})" if columns else "null"
    return joins, first


def _matches(con: duckdb.DuckDBPyConnection) -> Matches:
    """The rows to remove in every scanned file, each counted for the oldest request it belongs to."""
    con.execute("create temp table erase as select kind, value, min(req) as req from req_ident group by all")
    matches: Matches = defaultdict(Counter)
    for entity in ENTITIES:
        joins, first = _first_request([(COLUMN_KIND[c], f"t.{c}") for c in _id_columns(entity)])
        rows = con.execute(
            f"select layer, file, req, count(*) from (select t.layer, t.file, {first} as req "
            f"from {_table(entity)} t {joins}) where req is not null group by all"
        ).fetchall()
        for layer, file, rank, count in rows:
            matches[(entity.qualified_name, layer, file)][rank] += count
    return matches


def _file_columns(
    con: duckdb.DuckDBPyConnection, source: str, id_columns: list[str]
) -> list[tuple[str, str]]:
    """(kind, normalised SQL value) of the identifier columns of a Parquet file, under its own names."""
    return [
        (COLUMN_KIND[key], _normalised_sql(COLUMN_KIND[key], f"t.{_quote(c)}"))
        for c in con.sql(f"select * from {source} limit 0").columns
        if (key := _column_key(c)) in id_columns
    ]


def _parquet_matches(con: duckdb.DuckDBPyConnection, path: Path, id_columns: list[str]) -> Counter[int]:
    """The rows to remove in one Parquet file that was not scanned with the rest."""
    source = f"read_parquet({_sql_string(str(path))})"
    joins, first = _first_request(_file_columns(con, source, id_columns))
    rows = con.execute(
        f"select req, count(*) from (select {first} as req from {source} t {joins}) "
        "where req is not null group by all"
    ).fetchall()
    return Counter(dict(rows))


def _rewrite_parquet(
    con: duckdb.DuckDBPyConnection, path: Path, id_columns: list[str], expected: int
) -> Path:
    """Write `path` without the erased rows, in its row order, to a temp file; return the temp file."""
    source = f"read_parquet({_sql_string(str(path))})"
    erased = " or ".join(
        f"coalesce({value} in (select value from erase where kind = {_sql_string(kind)}), false)"
        for kind, value in _file_columns(con, source, id_columns)
    )
    tmp = _temp_path(path)
    con.execute(
        f"copy (select * exclude (ordinality) from (select * from {source} with ordinality) t "
        f"where not ({erased or 'false'}) order by ordinality) "
        f"to {_sql_string(str(tmp))} (format parquet, compression zstd)"
    )
    before = con.execute(f"select count(*) from {source}").fetchone()[0]
    after = con.execute(f"select count(*) from read_parquet({_sql_string(str(tmp))})").fetchone()[0]
    if before - after != expected:
        tmp.unlink()
        raise ErasureError(
            f"{path.name}: would remove {before - after} rows, expected {expected}; left as is"
        )
    return tmp


class _Matcher:
    """The erased identifiers in Python, for text files rewritten row by row."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.erase: dict[str, dict[str, int]] = defaultdict(dict)
        for kind, value, rank in con.execute("select kind, value, req from erase").fetchall():
            self.erase[kind][value] = rank

    def request_of(self, id_columns: list[str], row: dict[str, object]) -> int | None:
        ranks = [
            self.erase[COLUMN_KIND[c]].get(normalise(COLUMN_KIND[c], row.get(c)) or "") for c in id_columns
        ]
        found = [r for r in ranks if r is not None]
        return min(found) if found else None


def _filter_text(
    path: Path, fmt: str, id_columns: list[str], matcher: _Matcher, problems: list[str], label: str
) -> tuple[str, Counter[int]]:
    """The file's text without the erased rows, every other byte as it was, and the rows removed."""
    text = path.read_bytes().decode("utf-8", errors="surrogateescape")
    if fmt == "csv":
        return _filter_csv(text, id_columns, matcher)
    return _filter_jsonl(text, id_columns, matcher, problems, label)


def _filter_csv(text: str, id_columns: list[str], matcher: _Matcher) -> tuple[str, Counter[int]]:
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        # The csv reader asks for exactly the lines of one record (more if a quoted value spans
        # lines), so what it consumed for a record is that record's original text.
        for line in io.StringIO(text, newline=""):
            consumed.append(line)
            yield line

    kept: list[str] = []
    removed: Counter[int] = Counter()
    header: list[str] | None = None
    for record in csv.reader(lines()):
        raw = "".join(consumed)
        consumed.clear()
        if header is None:
            header = [_column_key(h) for h in record]
            kept.append(raw)
            continue
        rank = matcher.request_of(id_columns, dict(zip(header, record, strict=False)))
        if rank is None:
            kept.append(raw)
        else:
            removed[rank] += 1
    return "".join(kept) + "".join(consumed), removed


def _filter_jsonl(
    text: str, id_columns: list[str], matcher: _Matcher, problems: list[str], label: str
) -> tuple[str, Counter[int]]:
    kept: list[str] = []
    removed: Counter[int] = Counter()
    for number, line in enumerate(io.StringIO(text, newline=""), start=1):
        try:
            row = json.loads(line) if line.strip() else None
        except ValueError:
            problems.append(f"{label} line {number}: not JSON, not checked")
            row = None
        rank = (
            matcher.request_of(id_columns, {_column_key(k): v for k, v in row.items()})
            if isinstance(row, dict)
            else None
        )
        if rank is None:
            kept.append(line)
        else:
            removed[rank] += 1
    return "".join(kept), removed


def _temp_path(path: Path) -> Path:
    # Starts with a dot and ends in .tmp: neither landing nor the lake's globs pick it up.
    return path.with_name(f".{path.name}.erasure.tmp")


def _remove_stale_temp_files(paths: Paths) -> None:
    """Temp files of a run that stopped half-way (they hold no erased rows, but nobody reads them)."""
    roots = (paths.extracts, paths.lake, paths.quarantine, getattr(paths, "rejected", None))
    for root in (r for r in roots if r is not None and r.is_dir()):
        for tmp in root.rglob(".*.erasure.tmp"):
            tmp.unlink()


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = _temp_path(path)
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _record_in_manifest(paths: Paths, ef: ExtractFile, old: str, new: str, erased: int, day: str) -> str:
    """Point a landed file's manifest at its rewritten content; returns what was done."""
    path = ef.entity.folder(paths.lake) / f"{ef.stem}{MANIFEST_SUFFIX}"
    if not path.exists():
        return "not landed"
    manifest = json.loads(path.read_text())
    if manifest["checksum"] == new:
        return "already recorded"  # an earlier run stopped between the manifest and the file
    if manifest["checksum"] != old:
        # The file had changed since it landed: landing must go on reporting that, not us hide it.
        return "changed since landing"
    manifest["checksum"] = new
    if _MANIFEST_HAS_ERASED_ROWS:
        manifest["erased_rows"] = manifest.get("erased_rows", 0) + erased
    else:
        manifest["warnings"] = [
            *manifest.get("warnings", []),
            f"{erased} rows erased on {day} (GDPR erasure)",
        ]
    _write_atomically(path, (json.dumps(manifest, indent=2) + "\n").encode())
    return "updated"


def _rejected_files(paths: Paths) -> list[tuple[Path, str, list[str]]]:
    """(file, entity, identifier columns) of the whole files landing moved aside, if it does."""
    root: Path | None = getattr(paths, "rejected", None)
    if root is None or not root.is_dir():
        return []
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.startswith(".") or path.name.endswith(".reason.json"):
            continue
        parts = path.relative_to(root).parts
        entity = BY_NAME.get(".".join(parts[:2])) if len(parts) == 3 else None
        # A file outside the contract layout: check every column name that can hold an identifier.
        if entity is None:
            found.append((path, "unknown", list(COLUMN_KIND)))
        else:
            found.append((path, entity.qualified_name, _id_columns(entity)))
    return found


# --- the run ---------------------------------------------------------------------------------------


@dataclass
class _Run:
    paths: Paths
    con: duckdb.DuckDBPyConnection
    matches: Matches
    day: str
    removed: dict[int, Counter[tuple[str, str]]] = field(default_factory=lambda: defaultdict(Counter))
    files_rewritten: list[str] = field(default_factory=list)
    manifests_updated: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def count(self, entity: str, layer: str, by_request: Counter[int]) -> None:
        for rank, rows in by_request.items():
            self.removed[rank][(entity, layer)] += rows

    def rewrite_lake_and_quarantine(self) -> None:
        for (entity, layer, file), by_request in sorted(self.matches.items()):
            if layer == "extracts":
                continue
            path = Path(file)
            tmp = _rewrite_parquet(self.con, path, _id_columns(BY_NAME[entity]), sum(by_request.values()))
            os.replace(tmp, path)
            root = self.paths.lake if layer == "lake" else self.paths.quarantine
            self.files_rewritten.append(f"{layer}/{path.relative_to(root).as_posix()}")
            self.count(entity, layer, by_request)

    def rewrite_extracts(self, scan: _Scan) -> None:
        flagged = {file: rows for (_, layer, file), rows in self.matches.items() if layer == "extracts"}
        matcher = _Matcher(self.con)
        for ef in [scan.extract_files[f] for f in sorted(flagged)] + scan.python_only:
            expected = flagged.get(str(ef.path))
            id_columns = _id_columns(ef.entity)
            if ef.fmt == "parquet" and expected is not None:
                tmp, by_request = (
                    _rewrite_parquet(self.con, ef.path, id_columns, sum(expected.values())),
                    expected,
                )
            else:
                text, by_request = _filter_text(
                    ef.path, ef.fmt, id_columns, matcher, self.problems, f"extracts/{ef.relative}"
                )
                if expected is not None and by_request != expected:
                    self.problems.append(
                        f"extracts/{ef.relative}: removed {by_request.total()} rows where the scan found "
                        f"{expected.total()}; check the file by hand"
                    )
                if not by_request:
                    continue
                tmp = _temp_path(ef.path)
                tmp.write_bytes(text.encode("utf-8", errors="surrogateescape"))
            self.replace_extract(ef, tmp, by_request.total())
            self.count(ef.entity.qualified_name, "extracts", by_request)

    def replace_extract(self, ef: ExtractFile, tmp: Path, erased: int) -> None:
        # Manifest first: should the run stop in between, the file still holds the rows, the next
        # run rewrites it to the same bytes and finds the manifest already pointing at them.
        outcome = _record_in_manifest(self.paths, ef, sha256(ef.path), sha256(tmp), erased, self.day)
        if outcome == "updated":
            self.manifests_updated.append(ef.relative)
        elif outcome == "changed since landing":
            self.problems.append(
                f"extracts/{ef.relative}: changed since it landed; its manifest is left as is"
            )
        os.replace(tmp, ef.path)
        self.files_rewritten.append(f"extracts/{ef.relative}")

    def rewrite_rejected(self) -> None:
        """Rejected files are few and may not parse: each is checked row by row, every run."""
        matcher = _Matcher(self.con)
        for path, entity, id_columns in _rejected_files(self.paths):
            label = f"rejected/{path.relative_to(self.paths.rejected).as_posix()}"
            fmt = path.suffix.lstrip(".")
            if fmt == "parquet":
                try:
                    by_request = _parquet_matches(self.con, path, id_columns)
                except duckdb.Error:
                    self.problems.append(f"{label}: not checked (unreadable)")
                    continue
                if by_request:
                    os.replace(_rewrite_parquet(self.con, path, id_columns, by_request.total()), path)
            elif fmt in ("csv", "jsonl"):
                text, by_request = _filter_text(path, fmt, id_columns, matcher, self.problems, label)
                if by_request:
                    _write_atomically(path, text.encode("utf-8", errors="surrogateescape"))
            else:
                self.problems.append(f"{label}: not checked (not csv, jsonl or parquet)")
                continue
            if by_request:
                self.files_rewritten.append(label)
                self.count(entity, "rejected", by_request)


def apply_erasure_requests(paths: Paths) -> ErasureReport:
    """Apply every erasure request to the extracts, lake, quarantine and rejected files; see the module doc."""
    run_at = datetime.now(UTC).replace(tzinfo=None)
    requests, problems = read_requests(paths)
    state = load_state(paths)
    requests = _with_state_only_requests(requests, state)
    if not requests:
        return ErasureReport(run_at.isoformat(), [], [], [], problems)
    _remove_stale_temp_files(paths)
    with duckdb.connect() as con:
        scan = _scan_layers(con, paths)
        resolved = _resolve(con, requests, state)
        new_state = _new_state(requests, resolved, state)
        if new_state != state:
            # Before any file changes: a run that stops half-way leaves identifiers the next run knows.
            _state_path(paths).parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(
                _state_path(paths), (json.dumps({"requests": new_state}, indent=1) + "\n").encode()
            )
        run = _Run(paths, con, _matches(con), run_at.date().isoformat())
        run.rewrite_lake_and_quarantine()
        run.rewrite_extracts(scan)
        run.rewrite_rejected()
    report = ErasureReport(
        run_at=run_at.isoformat(),
        requests=[_request_report(rank, r, new_state, run) for rank, r in enumerate(requests)],
        files_rewritten=run.files_rewritten,
        manifests_updated=run.manifests_updated,
        problems=[*problems, *scan.problems, *run.problems],
    )
    _append_log(paths, report, {rid for rid, entry in new_state.items() if entry != state.get(rid)})
    removed = report.rows_removed()
    log.info(
        "erasure: %d requests, rows removed %s, %d files rewritten, %d problems",
        len(requests),
        removed,
        len(report.files_rewritten),
        len(report.problems),
    )
    return report


def _request_report(rank: int, request: ErasureRequest, state: dict[str, dict], run: _Run) -> RequestReport:
    identifiers = state[request.request_id]["identifiers"]
    by_entity: dict[str, dict[str, int]] = {}
    for (entity, layer), rows in sorted(run.removed[rank].items()):
        by_entity.setdefault(entity, dict.fromkeys(LAYERS, 0))[layer] = rows
    return RequestReport(
        request_id=request.request_id,
        requested_at=request.requested_at,
        resolved={label: len(identifiers.get(kind, [])) for kind, label in KIND_LABELS.items()},
        rows_removed={layer: sum(v[layer] for v in by_entity.values()) for layer in LAYERS},
        rows_removed_by_entity=by_entity,
    )


def _append_log(paths: Paths, report: ErasureReport, changed: set[str]) -> None:
    """One line per request this run did something for; a run that finds nothing writes nothing."""
    lines = [
        json.dumps({"run_at": report.run_at, **asdict(r)}) + "\n"
        for r in report.requests
        if r.total_removed or r.request_id in changed
    ]
    if lines:
        path = paths.lake / PRIVACY_FOLDER / LOG_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write("".join(lines))
