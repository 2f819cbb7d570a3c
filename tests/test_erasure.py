"""GDPR erasure on real files and real DuckDB: a demo warehouse, two people erased from every layer.

What the people's rows are is worked out here independently of `ingestion.erasure`, from the extract
files with the csv and json modules, and every layer is compared row by row before and after.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from ingestion.contracts import BY_NAME, ENTITIES, SOURCES
from ingestion.erasure import LAYERS, apply_erasure_requests, read_requests
from ingestion.landing import land_source
from ingestion.settings import Paths
from tests.conftest import PATH_VARS

DEMO_ARGS = ("--customers", "200", "--days", "60", "--seed", "3")
REQUESTS = "privacy/erasure_requests/erasure_requests_2025-03-02.csv"
EMAIL_COLUMNS = ("email", "requester_email", "respondent_email")
ORDERS_HEADER = "order_id,customer_id,ordered_at,order_type,plan,quantity,amount,currency"
Row = dict[str, object]


# --- an independent reading of the files -----------------------------------------------------------


def norm_id(value: object) -> str | None:
    return value.strip(" ") or None if isinstance(value, str) else None


def norm_email(value: object) -> str | None:
    return value.strip(" ").lower() or None if isinstance(value, str) else None


@dataclass
class Person:
    customer_ids: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    visitors: set[str] = field(default_factory=set)
    tickets: set[str] = field(default_factory=set)
    invitations: set[str] = field(default_factory=set)

    def mentioned_in(self, row: Row) -> bool:
        return (
            norm_id(row.get("customer_id")) in self.customer_ids
            or any(norm_email(row.get(c)) in self.emails for c in EMAIL_COLUMNS)
            or norm_id(row.get("visitor_id")) in self.visitors
            or norm_id(row.get("ticket_id")) in self.tickets
            or norm_id(row.get("invitation_id")) in self.invitations
        )

    def needles(self) -> set[str]:
        return {v.lower() for v in (*self.customer_ids, *self.emails, *self.visitors)}


def resolve(rows: dict[str, list[Row]], customer_ids: set[str], emails: set[str]) -> Person:
    """The person as the request defines it: accounts sharing an id or email, their devices, tickets, invitations."""
    person = Person(set(customer_ids), set(emails))
    size = -1
    while size != len(person.customer_ids) + len(person.emails):
        size = len(person.customer_ids) + len(person.emails)
        for row in rows["crm.customers"]:
            cid, email = norm_id(row["customer_id"]), norm_email(row["email"])
            if cid in person.customer_ids or email in person.emails:
                person.customer_ids |= {cid} - {None}
                person.emails |= {email} - {None}
    for row in rows["web.events"]:
        if norm_id(row.get("customer_id")) in person.customer_ids:
            person.visitors.add(norm_id(row["visitor_id"]))
    for row in rows["support.tickets"]:
        if (
            norm_id(row["customer_id"]) in person.customer_ids
            or norm_email(row["requester_email"]) in person.emails
        ):
            person.tickets.add(norm_id(row["ticket_id"]))
    for row in rows["surveys.invitations"]:
        if norm_id(row["customer_id"]) in person.customer_ids:
            person.invitations.add(norm_id(row["invitation_id"]))
    return person


def text_rows(path: Path) -> list[Row]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".csv":
        return list(csv.DictReader(io.StringIO(text, newline="")))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def extract_files(paths: Paths) -> dict[str, Path]:
    """Extract files by entity folder, not the erasure requests."""
    return {
        p.relative_to(paths.extracts).as_posix(): p
        for source in SOURCES
        for p in sorted((paths.extracts / source).rglob("*.*"))
    }


def extract_rows(paths: Paths) -> dict[str, list[Row]]:
    rows: dict[str, list[Row]] = {e.qualified_name: [] for e in ENTITIES}
    for relative, path in extract_files(paths).items():
        source, entity = relative.split("/")[:2]
        rows[f"{source}.{entity}"] += text_rows(path)
    return rows


def parquet_rows(folder: Path) -> list[Row]:
    files = sorted(folder.glob("*.parquet"))
    if not files:
        return []
    relation = duckdb.sql(
        f"select * from read_parquet({[str(f) for f in files]}, union_by_name = true, filename = true) "
        "order by filename, _row_number"
    )
    return [dict(zip(relation.columns, values, strict=True)) for values in relation.fetchall()]


def snapshot(paths: Paths) -> dict[str, dict[str, list[Row]]]:
    """Every row of every layer: layer -> entity -> rows in file order."""
    layers = {
        "extracts": extract_rows(paths),
        "lake": {e.qualified_name: parquet_rows(e.folder(paths.lake)) for e in ENTITIES},
        "quarantine": {e.qualified_name: parquet_rows(e.folder(paths.quarantine)) for e in ENTITIES},
        "rejected": {e.qualified_name: [] for e in ENTITIES},
    }
    for path in sorted(paths.rejected.rglob("*.csv")):
        source, entity = path.relative_to(paths.rejected).parts[:2]
        layers["rejected"][f"{source}.{entity}"] += text_rows(path)
    return layers


def expected_removals(before: dict[str, dict[str, list[Row]]], people: list[Person]) -> list[dict]:
    """Per request, entity -> layer -> rows, each row counted for the first person it mentions."""
    counts: list[dict[str, Counter[str]]] = [{} for _ in people]
    for layer, entities in before.items():
        for entity, rows in entities.items():
            for row in rows:
                first = next((i for i, p in enumerate(people) if p.mentioned_in(row)), None)
                if first is not None:
                    counts[first].setdefault(entity, Counter())[layer] += 1
    return [
        {entity: {layer: c[layer] for layer in LAYERS} for entity, c in sorted(by_entity.items())}
        for by_entity in counts
    ]


def kept(rows: dict[str, dict[str, list[Row]]], people: list[Person]) -> dict[str, dict[str, list[Row]]]:
    return {
        layer: {
            e: [r for r in rs if not any(p.mentioned_in(r) for p in people)] for e, rs in entities.items()
        }
        for layer, entities in rows.items()
    }


def expected_text(path: Path, people: list[Person]) -> str:
    """The file's text without the people's lines (demo files hold one row per line)."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    header = lines[:1] if path.suffix == ".csv" else []
    rows = text_rows(path)
    assert len(lines) == len(header) + len(rows), path
    body = lines[len(header) :]
    return "".join(
        header + [li for li, r in zip(body, rows, strict=True) if not any(p.mentioned_in(r) for p in people)]
    )


def file_states(root: Path) -> dict[str, tuple[int, str]]:
    return {
        p.relative_to(root).as_posix(): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def identifiers_found(paths: Paths, people: list[Person]) -> list[str]:
    """Where any of the people's ids, emails (any case) or visitor ids still occur, outside the requests."""
    patterns = [re.compile(rf"(?<![\w.+-]){re.escape(n)}(?![\w.-])") for p in people for n in p.needles()]
    requests = paths.extracts / "privacy"
    texts = {}
    for path in sorted(paths.root.rglob("*")):
        if path.is_file() and not path.is_relative_to(requests) and path.suffix != ".parquet":
            texts[str(path.relative_to(paths.root))] = path.read_text(encoding="utf-8", errors="replace")
    for folder in sorted({p.parent for p in paths.root.rglob("*.parquet")}):
        # One read per folder: the files of a folder share a schema.
        relation = duckdb.sql(f"select * from read_parquet('{folder}/*.parquet', union_by_name = true)")
        texts[str(folder.relative_to(paths.root))] = str(relation.fetchall())
    return [
        f"{name}: {p.pattern}" for name, text in texts.items() for p in patterns if p.search(text.lower())
    ]


# --- the demo warehouse ----------------------------------------------------------------------------


def pick_people(rows: dict[str, list[Row]]) -> tuple[str, str]:
    """A: most tickets and web events; B: most rows naming them by email only, then web events."""
    web = Counter(norm_id(r["customer_id"]) for r in rows["web.events"])
    tickets = Counter(norm_id(r["customer_id"]) for r in rows["support.tickets"])
    email_of = {norm_email(r["email"]): norm_id(r["customer_id"]) for r in rows["crm.customers"]}
    by_email_only = Counter(
        email_of.get(norm_email(r.get(c)))
        for entity in ("support.tickets", "surveys.responses")
        for r in rows[entity]
        if not norm_id(r.get("customer_id"))
        for c in EMAIL_COLUMNS
        if norm_email(r.get(c)) in email_of
    )
    customers = sorted({norm_id(r["customer_id"]) for r in rows["crm.customers"]})
    a = max(customers, key=lambda c: (tickets[c] > 0 and web[c] > 0, tickets[c] + web[c], c))
    b = max((c for c in customers if c != a), key=lambda c: (by_email_only[c], web[c] > 0, web[c], c))
    return a, b


def write(paths: Paths, relative: str, text: str) -> None:
    path = paths.extracts / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def land_all(paths: Paths) -> None:
    for source in SOURCES:
        land_source(paths, source)


@dataclass(frozen=True)
class Demo:
    root: Path  # a landed demo warehouse, copied into each test's own folder
    a: str  # customer id of person A (erased by customer id)
    b: str  # customer id of person B (erased by email)
    b_email: str


@pytest.fixture(scope="module")
def landed_demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The demo generated and landed once for the module (landing runs the quality gate: the slow part)."""
    root = tmp_path_factory.mktemp("erasure") / "warehouse"
    with pytest.MonkeyPatch.context() as mp:
        for var in PATH_VARS:
            mp.delenv(var, raising=False)
        paths = Paths.from_env(root)
        paths.ensure()
        subprocess.run(
            [sys.executable, "-m", "ingestion.demo", *DEMO_ARGS, "--out", str(paths.extracts)],
            check=True,
            capture_output=True,
        )
        rows = extract_rows(paths)
        a, b = pick_people(rows)
        b_email = next(norm_email(r["email"]) for r in rows["crm.customers"] if r["customer_id"] == b)
        other = next(r["customer_id"] for r in rows["crm.customers"] if r["customer_id"] not in (a, b))
        # Rows that cannot land go to quarantine as raw text (an untrimmed email, an empty id), and
        # a file that cannot land at all is moved aside: erasure must find the people there too.
        write(
            paths,
            "crm/orders/orders_2024-12-31.csv",
            f"{ORDERS_HEADER}\n"
            f"ord_x1,{a},not a time,one_off,,1,10.00,USD\n"
            f"ord_x2,{other},not a time,one_off,,1,10.00,USD\n"
            f"ord_x3, {b} ,2024-12-31T10:00:00Z,one_off,,1,10.00,USD\n",
        )
        write(
            paths,
            "crm/customers/customers_2024-12-31.csv",
            f"{','.join(BY_NAME['crm.customers'].column_names)}\n"
            f",  {b_email.upper()} ,B,2024-12-31T10:00:00Z,basic,europe,DE,social,,,2024-12-31T10:00:00Z\n",
        )
        write(
            paths, "crm/orders/orders_2024-12-30.csv", f"order_id,customer_id\nord_y1,{a}\nord_y2,{other}\n"
        )
        land_all(paths)
        assert (paths.rejected / "crm/orders/orders_2024-12-30.csv").exists()
    return Demo(root, a, b, b_email)


@pytest.fixture
def demo(landed_demo: Demo, warehouse: Paths) -> Demo:
    shutil.copytree(landed_demo.root, warehouse.root, dirs_exist_ok=True)
    return landed_demo


def test_erasure_removes_two_people_from_every_layer_and_nothing_else(warehouse: Paths, demo: Demo) -> None:
    paths, a, b_email = warehouse, demo.a, demo.b_email
    write(
        paths,
        REQUESTS,
        "request_id,customer_id,email,requested_at\n"
        f"ER-1,{a},,2025-03-02T09:00:00Z\n"
        f'ER-2,,"  {b_email.upper()}  ",2025-03-02T10:00:00Z\n',
    )
    rows = extract_rows(paths)
    people = [resolve(rows, {a}, set()), resolve(rows, set(), {b_email})]
    assert not people[0].customer_ids & people[1].customer_ids
    assert people[0].tickets and people[0].visitors and people[1].visitors
    before = snapshot(paths)
    texts = {relative: expected_text(path, people) for relative, path in extract_files(paths).items()}
    expected = expected_removals(before, people)
    assert expected[0]["crm.orders"]["quarantine"] == 1 and expected[0]["crm.orders"]["rejected"] == 1
    assert expected[1]["crm.customers"]["quarantine"] == 1

    report = apply_erasure_requests(paths)

    assert report.problems == []
    assert [r.request_id for r in report.requests] == ["ER-1", "ER-2"]
    assert [r.rows_removed_by_entity for r in report.requests] == expected
    assert [r.resolved["customers"] for r in report.requests] == [len(p.customer_ids) for p in people]
    assert [r.resolved["visitors"] for r in report.requests] == [len(p.visitors) for p in people]
    # Every other row is still there, in its order, with its values; extract files keep their bytes.
    assert snapshot(paths) == kept(before, people)
    assert {rel: p.read_text(encoding="utf-8") for rel, p in extract_files(paths).items()} == texts
    assert identifiers_found(paths, people) == []
    assert not list(paths.root.rglob("*.tmp"))
    # Landing sees the rewritten extracts as the files it landed: nothing new, nothing rejected.
    for source in SOURCES:
        again = land_source(paths, source)
        assert again.errors == []
        assert again.totals()["files_landed"] == 0
    log_text = (paths.lake / "privacy/erasure_log.jsonl").read_text()
    assert [json.loads(line)["request_id"] for line in log_text.splitlines()] == ["ER-1", "ER-2"]
    assert not any(email in log_text.lower() for p in people for email in p.emails)

    # A second run finds nothing and changes no file, the log included.
    states = file_states(paths.root)
    second = apply_erasure_requests(paths)
    assert [r.total_removed for r in second.requests] == [0, 0]
    assert second.files_rewritten == []
    assert file_states(paths.root) == states


def test_rows_arriving_after_the_request_are_erased_too(warehouse: Paths, demo: Demo) -> None:
    paths, a, b_email = warehouse, demo.a, demo.b_email
    rows = extract_rows(paths)
    people = [resolve(rows, {a}, set()), resolve(rows, set(), {b_email})]
    write(
        paths,
        REQUESTS,
        f"request_id,customer_id,email,requested_at\nER-1,{a},,2025-03-02\nER-2,,{b_email.title()},2025-03-02\n",
    )
    apply_erasure_requests(paths)
    # After the first run nothing in the data links B's customer id or devices to the email the
    # request gave: only the run's remembered identifiers can.
    ticket, visitor, other_visitor = min(people[0].tickets), min(people[1].visitors), "v_someone_else"
    (b_id,) = people[1].customer_ids
    write(
        paths,
        "crm/orders/orders_2025-03-20.csv",
        f"{ORDERS_HEADER}\nord_z1,{b_id},2025-03-20T10:00:00Z,one_off,,1,10.00,USD\n"
        "ord_z2,cus_999999,2025-03-20T10:00:00Z,one_off,,1,10.00,USD\n",
    )
    write(
        paths,
        "web/events/events_2025-03-20.jsonl",
        "".join(
            json.dumps(
                dict.fromkeys(BY_NAME["web.events"].column_names)
                | {"event_id": f"evt_z{i}", "visitor_id": v, "occurred_at": "2025-03-20T10:00:00Z"}
                | {"event_name": "page_view", "page_path": "/", "device": "mobile"}
            )
            + "\n"
            for i, v in enumerate((visitor, other_visitor))
        ),
    )
    write(
        paths,
        "support/ticket_events/ticket_events_2025-03-20.csv",
        f"{','.join(BY_NAME['support.ticket_events'].column_names)}\n"
        f"tev_z1,{ticket},2025-03-20T10:00:00+01:00,customer_reply,customer,,true,open,,Any news?\n",
    )
    land_all(paths)
    before = snapshot(paths)

    report = apply_erasure_requests(paths)

    assert report.problems == []
    removed = {
        r.request_id: {e: v["extracts"] for e, v in r.rows_removed_by_entity.items()} for r in report.requests
    }
    assert removed == {"ER-1": {"support.ticket_events": 1}, "ER-2": {"crm.orders": 1, "web.events": 1}}
    for r in report.requests:
        assert r.rows_removed["lake"] + r.rows_removed["quarantine"] == r.rows_removed["extracts"]
    assert snapshot(paths) == kept(before, people)
    assert identifiers_found(paths, people) == []
    for source in SOURCES:
        assert land_source(paths, source).errors == []


def test_request_rows_without_an_identifier_are_reported_without_their_values(warehouse: Paths) -> None:
    write(
        warehouse,
        REQUESTS,
        "request_id,customer_id,email,requested_at\n"
        "ER-1,,,2025-03-02\n"
        ",cus_000001,,2025-03-02\n"
        "ER-2,cus_000002,,2025-03-03\n"
        "ER-2,, Two@Example.com ,2025-03-01\n",
    )
    write(warehouse, "privacy/erasure_requests/requests.csv", "request_id,email\nER-3,x@example.com\n")
    requests, problems = read_requests(warehouse)
    assert [(r.request_id, r.requested_at, r.customer_ids, r.emails) for r in requests] == [
        ("ER-2", "2025-03-01", {"cus_000002"}, {"two@example.com"})
    ]
    assert problems == [
        "erasure_requests_2025-03-02.csv row 2: needs a request_id and a customer_id or email",
        "erasure_requests_2025-03-02.csv row 3: needs a request_id and a customer_id or email",
        "requests.csv: not read, expected erasure_requests_YYYY-MM-DD.csv",
    ]
    assert "cus_000001" not in " ".join(problems)


def test_rewritten_extracts_keep_every_other_byte(warehouse: Paths) -> None:
    header = ",".join(BY_NAME["support.tickets"].column_names)
    keep = 'tkt_1,cus_1,a@x.com,email,low,"Two\r\nlines, quoted",2025-03-01T10:00:00Z,new,,2025-03-01T10:00:00Z\r\n'
    drop = 'tkt_2,,"  GONE@x.com",web,low,"also\nsplit",2025-03-01T11:00:00Z,new,,2025-03-01T11:00:00Z\r\n'
    write(warehouse, "support/tickets/tickets_2025-03-01.csv", f"{header}\r\n{keep}{drop}{keep}")
    events = '{"event_id": "e1", "visitor_id": "v1", "customer_id": "cus_1"}\n\n'
    write(warehouse, "web/events/events_2025-03-01.jsonl", f'{events}{{"Customer_ID": " cus_2 "}}\n{events}')
    write(
        warehouse,
        REQUESTS,
        "request_id,customer_id,email,requested_at\nER-1,cus_2,,2025-03-02\nER-2,,gone@x.com,2025-03-02\n",
    )

    report = apply_erasure_requests(warehouse)

    assert report.problems == []
    assert (warehouse.extracts / "support/tickets/tickets_2025-03-01.csv").read_bytes() == (
        f"{header}\r\n{keep}{keep}".encode()
    )
    assert (warehouse.extracts / "web/events/events_2025-03-01.jsonl").read_text() == events + events
    assert [r.rows_removed_by_entity for r in report.requests] == [
        {"web.events": dict.fromkeys(LAYERS, 0) | {"extracts": 1}},
        {"support.tickets": dict.fromkeys(LAYERS, 0) | {"extracts": 1}},
    ]


# --- the publish's last check: no email address in a served column -----------------------------------


def test_publish_refuses_a_served_column_holding_an_email_address() -> None:
    from orchestration.publish import PrivacyError, check_privacy

    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("create schema staging")  # not served: may hold addresses
    con.execute("create table staging.people as select 'ann@example.com' as email")
    con.execute(
        "create table marts.comments as select * from (values "
        "('fine, thanks', '@support on twitter'), ('a@b', 'mail me at Ann.Lee+cx@example.co.uk today')"
        ") as t(comment_text, note)"
    )
    with pytest.raises(PrivacyError, match=r"served columns: marts\.comments\.note$"):
        check_privacy(con)
    # An '@' alone (a handle, a fragment) is not an address.
    con.execute("update marts.comments set note = 'masked'")
    check_privacy(con)
