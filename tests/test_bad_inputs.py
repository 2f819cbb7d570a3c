"""A corpus of broken extracts, each landed into a fresh warehouse with an explicit expected outcome.

Every case is one small file built here from the contract columns (so the rest of the row is valid),
written under `extracts/`, landed with `land_source` at a fixed `loaded_at`, and checked against one
of three outcomes:

- REJECTED (rule): the report names the file with that rule, the file has moved to `rejected/` byte
  for byte with a reason JSON naming the rule, and nothing of it reached the lake or quarantine.
- QUARANTINED ({row: (rule wording, offending value)}): exactly those `_row_number`s are in the
  quarantine Parquet, values as text, with the `_rule` and a `_reason` holding the offending value;
  every other row is in the lake.
- ACCEPTED (warning or none): every row is in the lake and a warning mentions the expected text (or
  there is no warning at all).

For every case nothing is lost: the data rows counted while building the file equal rows landed +
rows quarantined, or the whole file is in `rejected/`. A second test checks that each quarantined
row's `_reason` words the rule the row broke (column and rule), separately from where the row went.

Decisions the corpus documents:
- A UTF-8 byte-order mark on a CSV is accepted; on JSON Lines DuckDB refuses it: rejected unreadable.
- A trailing comma on every row is a trailing delimiter: the rows land.
- A 1 MB subject lands whole (there is no length rule); a field beyond DuckDB's 2 MB `max_line_size`
  makes the CSV unreadable and the whole file is rejected for the sender to fix.
- A malformed JSON line rejects the whole file (DuckDB does not skip it), while a line that is valid
  JSON but not an object types as a row without values and is quarantined as missing required values.
- Allowed values are exact: ` premium ` (padded) or `Basic` (capitalised) are quarantined.
- An order for a customer id that no CRM file has is accepted without a warning: orphans are found by
  the dbt relationships tests downstream, not by landing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingestion.contracts import BY_NAME
from ingestion.landing import SourceReport, land_source
from ingestion.settings import Paths
from tests.conftest import PATH_VARS

LOADED_AT = datetime(2025, 3, 2, 6, 0, 0)  # naive UTC, a few hours after the extracts' business day
DAY = "2025-03-01"

REJECTED, QUARANTINED, ACCEPTED = "rejected", "quarantined", "accepted"

# One valid row per entity; `{n}` becomes the row's 1-based number so that keys are unique.
DEFAULTS: dict[str, dict[str, str]] = {
    "crm.customers": {
        "customer_id": "C{n}",
        "email": "c{n}@example.com",
        "full_name": "Customer {n}",
        "signup_at": "2025-03-01T08:00:00Z",
        "plan": "basic",
        "region": "europe",
        "country": "DE",
        "acquisition_channel": "social",
        "birth_year": "1984",
        "gender": "female",
        "updated_at": "2025-03-01T08:00:00Z",
    },
    "crm.orders": {
        "order_id": "O{n}",
        "customer_id": "C{n}",
        "ordered_at": "2025-03-01T10:00:00Z",
        "order_type": "new",
        "plan": "basic",
        "quantity": "1",
        "amount": "29.00",
        "currency": "EUR",
    },
    "support.tickets": {
        "ticket_id": "T{n}",
        "customer_id": "C{n}",
        "requester_email": "c{n}@example.com",
        "channel": "email",
        "priority": "normal",
        "subject": "Cannot log in",
        "created_at": "2025-03-01T09:00:00Z",
        "status": "open",
        "agent_id": "A7",
        "updated_at": "2025-03-01T09:30:00Z",
    },
    "support.ticket_events": {
        "event_id": "TE{n}",
        "ticket_id": "T1",
        "occurred_at": "2025-03-01T11:00:00Z",
        "event_type": "csat_rated",
        "author_type": "customer",
        "agent_id": "",
        "is_public": "false",
        "status": "solved",
        "csat_score": "4",
        "body": "",
    },
    "web.events": {
        "event_id": "W{n}",
        "visitor_id": "V{n}",
        "customer_id": "",
        "occurred_at": "2025-03-01T12:00:00Z",
        "event_name": "page_view",
        "page_path": "/pricing",
        "referrer": "https://www.google.com/",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "spring",
        "device": "desktop",
        "order_id": "",
        "revenue": "",
    },
    "surveys.responses": {
        "response_id": "R{n}",
        "invitation_id": "I{n}",
        "survey_type": "NPS",
        "touchpoint": "relationship",
        "score": "9",
        "comment": "",
        "respondent_email": "",
        "is_anonymous": "false",
        "responded_at": "2025-03-01T13:00:00Z",
    },
}


def rows(entity: str, *changes: dict[str, str]) -> list[dict[str, str]]:
    """One valid row per `changes` entry (row n gets ids ending in n), with those values changed."""
    out = []
    for n, change in enumerate(changes, start=1):
        row = {k: v.replace("{n}", str(n)) for k, v in DEFAULTS[entity].items()}
        row.update(change)
        out.append(row)
    return out


def valid(entity: str, count: int) -> list[dict[str, str]]:
    return rows(entity, *({} for _ in range(count)))


def csv_text(
    entity: str,
    data: list[dict[str, str]],
    columns: list[str] | None = None,
    delimiter: str = ",",
    newline: str = "\n",
) -> str:
    """A CSV with a header and one line per row (quoted only where needed, as most exporters do)."""
    extra = [c for c in data[0] if c not in DEFAULTS[entity]] if data else []
    columns = columns or [*BY_NAME[entity].column_names, *extra]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerow(columns)
    for row in data:
        writer.writerow([row.get(c, "") for c in columns])
    return buffer.getvalue()


def jsonl_text(data: list[dict[str, str]], drop: dict[int, tuple[str, ...]] | None = None) -> str:
    """One JSON object per line; empty values are JSON nulls, keys in `drop[row]` are left out."""
    lines = []
    for n, row in enumerate(data, start=1):
        obj = {k: (v if v != "" else None) for k, v in row.items() if k not in (drop or {}).get(n, ())}
        lines.append(json.dumps(obj, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def parquet_bytes(text: str) -> bytes:
    """The CSV text as a Parquet file (all columns VARCHAR), written by DuckDB."""
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "t.csv", Path(tmp) / "t.parquet"
        source.write_text(text)
        duckdb.sql(
            f"copy (select * from read_csv('{source}', all_varchar = true)) to '{target}' (format parquet)"
        )
        return target.read_bytes()


def extract(entity: str, fmt: str = "csv", day: str = DAY) -> str:
    source, name = entity.split(".")
    return f"{source}/{name}/{name}_{day}.{fmt}"


def lake_query(paths: Paths, query: str) -> list[tuple]:
    return duckdb.sql(query.replace("LAKE", str(paths.lake))).fetchall()


@dataclass(frozen=True)
class Case:
    name: str
    relative: str  # where the file is written, below the extracts folder
    data: bytes
    rows: int  # data rows in the file, counted while building it
    outcome: str
    rule: str = ""  # REJECTED: the LandingError rule; QUARANTINED: the `_rule` of every quarantined row
    # QUARANTINED: row number -> (wording of the broken rule, offending value), both in its `_reason`
    reasons: dict[int, tuple[str, str]] = field(default_factory=dict)
    warning: str | None = None  # ACCEPTED: a warning must contain it; None: no warnings at all
    before: tuple[tuple[str, bytes], ...] = ()  # files landed first, in a run of their own
    check: Callable[[Paths], None] | None = None  # more checks on the landed values
    xfail: str | None = None  # a product bug makes the outcome wrong
    wording_xfail: str | None = None  # a product bug makes `_reason` word the wrong rule

    @property
    def source(self) -> str:
        return self.relative.split("/")[0]

    @property
    def entity(self) -> str:
        return ".".join(self.relative.split("/")[:2])

    @property
    def folder(self) -> str:
        return "/".join(self.relative.split("/")[:2])

    @property
    def stem(self) -> str:
        return Path(self.relative).name.rsplit(".", 1)[0]


def case(name: str, relative: str, text: str | bytes, count: int, outcome: str, **kwargs: Any) -> Case:
    return Case(name, relative, text.encode() if isinstance(text, str) else text, count, outcome, **kwargs)


# --- the extra checks some cases make on landed values -------------------------------------------


def utc_times_check(paths: Paths) -> None:
    got = lake_query(
        paths,
        f"select _row_number, signup_at, updated_at from 'LAKE/crm/customers/customers_{DAY}.parquet' order by 1",
    )
    nine_thirty = datetime(2025, 3, 1, 9, 30)
    assert got == [(n, nine_thirty, nine_thirty + timedelta(hours=1)) for n in range(1, 6)]


def huge_subject_check(paths: Paths) -> None:
    got = lake_query(
        paths, f"select length(subject), left(subject, 7) from 'LAKE/support/tickets/tickets_{DAY}.parquet'"
    )
    assert got == [(1_000_000 + len("Refund "), "Refund ")]


def quoting_check(paths: Paths) -> None:
    got = lake_query(
        paths, f"select ticket_id, subject from 'LAKE/support/tickets/tickets_{DAY}.parquet' order by 1"
    )
    assert got == [("T1", 'Refund, please: "order O1"\nsecond line'), ("T2", "Cannot log in")]


def customers_landed(*ids: str) -> Callable[[Paths], None]:
    """Check that exactly these customers landed, with their values in the right columns."""

    def check(paths: Paths) -> None:
        got = lake_query(
            paths, f"select customer_id, email from 'LAKE/crm/customers/customers_{DAY}.parquet' order by 1"
        )
        assert got == [(i, f"c{i[1:]}@example.com") for i in ids]

    return check


def jsonl_nulls_check(paths: Paths) -> None:
    got = lake_query(
        paths,
        f"select event_id, page_path, device, utm_source from 'LAKE/web/events/events_{DAY}.parquet' order by 1",
    )
    assert got == [("W1", "/pricing", "desktop", "google"), ("W3", None, None, None)]


def first_version_landed(email: str) -> Callable[[Paths], None]:
    def check(paths: Paths) -> None:
        got = lake_query(paths, f"select email from 'LAKE/crm/customers/customers_{DAY}.parquet'")
        assert got == [(email,)]

    return check


# --- the corpus -----------------------------------------------------------------------------------

CUSTOMERS, ORDERS, TICKETS, EVENTS = "crm.customers", "crm.orders", "support.tickets", "support.ticket_events"
WEB, RESPONSES = "web.events", "surveys.responses"

_customers_3 = csv_text(CUSTOMERS, valid(CUSTOMERS, 3))
_customer_lines = _customers_3.splitlines()
_first_version = csv_text(CUSTOMERS, rows(CUSTOMERS, {"email": "first@example.com"}))
_history = tuple(
    (extract(CUSTOMERS, day=f"2025-02-{day}"), csv_text(CUSTOMERS, valid(CUSTOMERS, 20)).encode())
    for day in range(21, 28)
)
_mixed_zones = rows(
    CUSTOMERS,
    {"signup_at": "2025-03-01T10:30:00+01:00", "updated_at": "2025-03-01T11:30:00+01:00"},
    {"signup_at": "2025-03-01T09:30:00Z", "updated_at": "2025-03-01T10:30:00Z"},
    {"signup_at": "2025-03-01T04:30:00-05:00", "updated_at": "2025-03-01T05:30:00-05:00"},
    {"signup_at": "2025-03-01T15:00:00+05:30", "updated_at": "2025-03-01T16:00:00+05:30"},
    {"signup_at": "2025-03-01 09:30:00", "updated_at": "2025-03-01 10:30:00"},  # no offset: UTC
)
_web_3 = rows(WEB, {}, {}, {})
_web_lines = jsonl_text(_web_3).splitlines()
_orders_parquet = parquet_bytes(csv_text(ORDERS, valid(ORDERS, 2)))

# expectations/gate.py `validate` pairs `rules` with GX's results by position, but GX returns results
# grouped by column, not in suite order, so a gate failure's `_reason` words another rule.
CASES = [
    # ---- whole files rejected: the file cannot be read or does not belong ----
    case(
        "unterminated-quote",
        extract(CUSTOMERS),
        "\n".join(
            [
                *_customer_lines[:2],
                _customer_lines[2].replace("Customer 2", '"Customer 2'),
                _customer_lines[3],
            ]
        )
        + "\n",
        3,
        REJECTED,
        rule="unreadable",
    ),
    case(
        "unquoted-comma-extra-field",
        extract(CUSTOMERS),
        "\n".join(
            [*_customer_lines[:2], _customer_lines[2].replace("Customer 2", "Lee, Ann"), _customer_lines[3]]
        )
        + "\n",
        3,
        REJECTED,
        rule="unreadable",
    ),
    case(
        "row-missing-a-field",
        extract(CUSTOMERS),
        "\n".join([*_customer_lines[:2], _customer_lines[2].rsplit(",", 1)[0], _customer_lines[3]]) + "\n",
        3,
        REJECTED,
        rule="unreadable",
    ),
    case(
        "semicolon-delimiter",
        extract(CUSTOMERS),
        csv_text(CUSTOMERS, valid(CUSTOMERS, 2), delimiter=";"),
        2,
        REJECTED,
        rule="missing columns",
    ),
    case(
        "latin1-csv",
        extract(CUSTOMERS),
        csv_text(CUSTOMERS, rows(CUSTOMERS, {}, {"full_name": "José Pérez"})).encode("latin-1"),
        2,
        REJECTED,
        rule="encoding",
    ),
    case(
        "latin1-jsonl",
        extract(WEB, "jsonl"),
        jsonl_text(rows(WEB, {}, {"page_path": "/café"})).encode("latin-1"),
        2,
        REJECTED,
        rule="encoding",
    ),
    case(
        "missing-required-column",
        extract(ORDERS),
        csv_text(ORDERS, valid(ORDERS, 2), columns=[c for c in DEFAULTS[ORDERS] if c != "currency"]),
        2,
        REJECTED,
        rule="missing columns",
    ),
    case("empty-file-0-bytes", extract(CUSTOMERS), b"", 0, REJECTED, rule="empty file"),
    case(
        "changed-file-resent",
        extract(CUSTOMERS),
        _first_version.replace("first@example.com", "second@example.com"),
        1,
        REJECTED,
        rule="changed file",
        before=((extract(CUSTOMERS), _first_version.encode()),),
        check=first_version_landed("first@example.com"),
    ),
    case(
        "file-name-without-dashes",
        "crm/customers/customers_20250301.csv",
        _customers_3,
        3,
        REJECTED,
        rule="file name",
    ),
    case(
        "file-name-not-a-date",
        "crm/customers/customers_2025-02-30.csv",
        _customers_3,
        3,
        REJECTED,
        rule="file name",
    ),
    case(
        "file-name-xlsx",
        "crm/customers/customers_2025-03-01.xlsx",
        _customers_3,
        3,
        REJECTED,
        rule="file name",
    ),
    case(
        "file-named-for-another-entity",
        "crm/customers/orders_2025-03-01.csv",
        _customers_3,
        3,
        REJECTED,
        rule="file name",
    ),
    case(
        "wrong-source-folder", "crm/tickets/tickets_2025-03-01.csv", _customers_3, 3, REJECTED, rule="layout"
    ),
    case("no-entity-folder", "crm/customers_2025-03-01.csv", _customers_3, 3, REJECTED, rule="layout"),
    case(
        "jsonl-malformed-line",
        extract(WEB, "jsonl"),
        "\n".join([_web_lines[0], _web_lines[1][:-1], _web_lines[2]]) + "\n",  # line 2 lacks its "}"
        3,
        REJECTED,
        rule="unreadable",
    ),
    case(
        "jsonl-with-bom",
        extract(WEB, "jsonl"),
        b"\xef\xbb\xbf" + jsonl_text(_web_3).encode(),
        3,
        REJECTED,
        rule="unreadable",
    ),
    case(
        "field-over-2mb-line-limit",
        extract(TICKETS),
        csv_text(TICKETS, rows(TICKETS, {"subject": "x" * 3_000_000}, {})),
        2,
        REJECTED,
        rule="unreadable",
    ),
    case(
        "truncated-parquet",
        extract(ORDERS, "parquet"),
        _orders_parquet[: len(_orders_parquet) // 2],  # an upload cut short
        2,
        REJECTED,
        rule="unreadable",
    ),
    case(
        "concatenated-exports-header-changed",
        extract(CUSTOMERS),
        csv_text(CUSTOMERS, valid(CUSTOMERS, 2))
        + csv_text(CUSTOMERS, [{**r, "loyalty_tier": "gold"} for r in valid(CUSTOMERS, 5)[2:]]),
        5,
        REJECTED,
        rule="unreadable",
    ),
    case(
        "jsonl-keys-differing-in-case",
        extract(WEB, "jsonl"),
        jsonl_text([{**r, "Event_ID": f"X{n}"} for n, r in enumerate(_web_3, start=1)]),
        3,
        REJECTED,
        rule="duplicate columns",
    ),
    # ---- rows quarantined: the file is fine, some rows are not ----
    case(
        "amount-not-a-number",
        extract(ORDERS),
        csv_text(ORDERS, rows(ORDERS, {}, {"amount": "abc"}, {})),
        3,
        QUARANTINED,
        rule="type",
        reasons={2: ("type: column 'amount'", "value 'abc' is not a valid DECIMAL(18,2)")},
    ),
    case(
        "amount-decimal-comma",
        extract(ORDERS),
        csv_text(ORDERS, rows(ORDERS, {"amount": "29,90"}, {})),
        2,
        QUARANTINED,
        rule="type",
        reasons={1: ("type: column 'amount'", "value '29,90'")},
    ),
    case(
        "timestamp-unparseable",
        extract(ORDERS),
        csv_text(ORDERS, rows(ORDERS, {}, {"ordered_at": "01/03/2025 10:00"})),
        2,
        QUARANTINED,
        rule="type",
        reasons={2: ("type: column 'ordered_at'", "value '01/03/2025 10:00' is not a valid TIMESTAMP")},
    ),
    case(
        "boolean-not-true-false",
        extract(RESPONSES),
        csv_text(RESPONSES, rows(RESPONSES, {"is_anonymous": "maybe"}, {})),
        2,
        QUARANTINED,
        rule="type",
        reasons={1: ("type: column 'is_anonymous'", "value 'maybe' is not a valid BOOLEAN")},
    ),
    case(
        "required-value-empty",
        extract(CUSTOMERS),
        csv_text(CUSTOMERS, rows(CUSTOMERS, {}, {"customer_id": ""})),
        2,
        QUARANTINED,
        rule="required",
        reasons={2: ("required: column 'customer_id' is empty", "")},
    ),
    case(
        "required-value-blank-spaces",
        extract(ORDERS),
        csv_text(ORDERS, rows(ORDERS, {"currency": "   "}, {})),
        2,
        QUARANTINED,
        rule="required",
        reasons={1: ("required: column 'currency' is empty", "")},
    ),
    case(
        "repeated-header-line",
        extract(CUSTOMERS),
        "\n".join(
            [*_customer_lines, _customer_lines[0], csv_text(CUSTOMERS, valid(CUSTOMERS, 4)).splitlines()[4]]
        )
        + "\n",  # rows C1-C3, the header again, C4
        5,
        QUARANTINED,
        rule="type",
        reasons={4: ("type: column 'signup_at'", "value 'signup_at' is not a valid TIMESTAMP")},
    ),
    case(
        "survey-scores-out-of-range",
        extract(RESPONSES),
        csv_text(
            RESPONSES,
            rows(
                RESPONSES,
                {"survey_type": "NPS", "score": "0"},
                {"survey_type": "NPS", "score": "11"},
                {"survey_type": "NPS", "score": "10"},
                {"survey_type": "CSAT", "score": "0"},
                {"survey_type": "CSAT", "score": "5"},
                {"survey_type": "CES", "score": "6"},
                {"survey_type": "CES", "score": "1"},
            ),
        ),
        7,
        QUARANTINED,
        rule="expect_column_values_to_be_between",
        reasons={
            2: ("a NPS score must be 0-10", "(got 11)"),
            4: ("a CSAT score must be 1-5", "(got 0)"),
            6: ("a CES score must be 1-5", "(got 6)"),
        },
    ),
    case(
        "negative-amount",
        extract(ORDERS),
        csv_text(ORDERS, rows(ORDERS, {}, {"amount": "-5.00"})),
        2,
        QUARANTINED,
        rule="expect_column_values_to_be_between",
        reasons={2: ("amount must be between 0 and 1,000,000", "-5")},
    ),
    case(
        "quantity-zero",
        extract(ORDERS),
        csv_text(ORDERS, rows(ORDERS, {"quantity": "0", "order_type": "one_off"}, {})),
        2,
        QUARANTINED,
        rule="expect_column_values_to_be_between",
        reasons={1: ("quantity must be at least 1", "(got 0)")},
    ),
    case(
        "currency-not-3-letters",
        extract(ORDERS),
        csv_text(ORDERS, rows(ORDERS, {}, {"currency": "EURO"})),
        2,
        QUARANTINED,
        rule="expect_column_value_lengths_to_equal",
        reasons={2: ("currency must be a 3-letter ISO 4217 code", "'EURO'")},
    ),
    case(
        "duplicate-ids-in-file",
        extract(ORDERS),
        csv_text(ORDERS, rows(ORDERS, {"order_id": "O1"}, {"order_id": "O1", "amount": "30.00"}, {})),
        3,
        QUARANTINED,
        rule="expect_compound_columns_to_be_unique",
        reasons={
            1: ("order_id must be unique within a file", "'O1'"),
            2: ("order_id must be unique", "'O1'"),
        },
    ),
    case(
        "unknown-channel-fax",
        extract(TICKETS),
        csv_text(TICKETS, rows(TICKETS, {}, {"channel": "fax"})),
        2,
        QUARANTINED,
        rule="expect_column_values_to_be_in_set",
        reasons={2: ("channel must be one of email, chat, phone, web", "'fax'")},
    ),
    case(
        "allowed-value-wrong-case",
        extract(CUSTOMERS),
        csv_text(CUSTOMERS, rows(CUSTOMERS, {"plan": "Basic"}, {})),
        2,
        QUARANTINED,
        rule="expect_column_values_to_be_in_set",
        reasons={1: ("plan must be one of basic, standard, premium", "'Basic'")},
    ),
    case(
        "allowed-value-padded",
        extract(CUSTOMERS),
        csv_text(CUSTOMERS, rows(CUSTOMERS, {}, {"plan": " premium "})),
        2,
        QUARANTINED,
        rule="expect_column_values_to_be_in_set",
        reasons={2: ("plan must be one of", "' premium '")},
    ),
    case(
        "future-timestamp-30-days",
        extract(ORDERS),
        csv_text(
            ORDERS, rows(ORDERS, {"ordered_at": (LOADED_AT + timedelta(days=30)).isoformat() + "Z"}, {})
        ),
        2,
        QUARANTINED,
        rule="expect_column_values_to_be_between",
        reasons={1: ("ordered_at must lie between 1990-01-01 and the load time", "2025-04-01")},
    ),
    case(
        "ancient-timestamp-1900",
        extract(ORDERS),
        csv_text(ORDERS, rows(ORDERS, {}, {"ordered_at": "1900-03-01T10:00:00Z"})),
        2,
        QUARANTINED,
        rule="expect_column_values_to_be_between",
        reasons={2: ("ordered_at must lie between 1990-01-01", "1900-03-01")},
    ),
    case(
        "ticket-solved-before-created",
        extract(TICKETS),
        csv_text(
            TICKETS,
            rows(
                TICKETS,
                {},
                {
                    "status": "solved",
                    "created_at": "2025-03-01T10:00:00Z",
                    "updated_at": "2025-03-01T09:00:00Z",
                },
            ),
        ),
        2,
        QUARANTINED,
        rule="expect_column_pair_values_a_to_be_greater_than_b",
        reasons={
            2: (
                "a ticket cannot be updated (or solved) before it was created",
                "updated_at='2025-03-01T09:00:00'",
            )
        },
    ),
    case(
        "customer-updated-before-signup",
        extract(CUSTOMERS),
        csv_text(
            CUSTOMERS,
            rows(CUSTOMERS, {"signup_at": "2025-03-01T12:00:00Z", "updated_at": "2025-03-01T08:00:00Z"}, {}),
        ),
        2,
        QUARANTINED,
        rule="expect_column_pair_values_a_to_be_greater_than_b",
        reasons={1: ("updated_at must not be before signup_at", "updated_at='2025-03-01T08:00:00'")},
    ),
    case(
        "csat-score-9-on-ticket-event",
        extract(EVENTS),
        csv_text(EVENTS, rows(EVENTS, {}, {"csat_score": "9"})),
        2,
        QUARANTINED,
        rule="expect_column_values_to_be_between",
        reasons={2: ("csat_score must be 1-5", "(got 9)")},
    ),
    case(
        "birth-year-1850",
        extract(CUSTOMERS),
        csv_text(CUSTOMERS, rows(CUSTOMERS, {"birth_year": "1850"}, {})),
        2,
        QUARANTINED,
        rule="expect_column_values_to_be_between",
        reasons={1: ("birth_year must be a plausible year", "(got 1850)")},
    ),
    case(
        "negative-revenue-jsonl",
        extract(WEB, "jsonl"),
        jsonl_text(rows(WEB, {}, {"event_name": "purchase", "order_id": "O9", "revenue": "-12.50"})),
        2,
        QUARANTINED,
        rule="expect_column_values_to_be_between",
        reasons={2: ("revenue must not be negative", "-12.5")},
    ),
    case(
        "jsonl-missing-required-key",
        extract(WEB, "jsonl"),
        jsonl_text(_web_3, drop={2: ("visitor_id",)}),
        3,
        QUARANTINED,
        rule="required",
        reasons={2: ("required: column 'visitor_id' is empty", "")},
    ),
    case(
        "jsonl-line-not-an-object",
        extract(WEB, "jsonl"),
        "\n".join([_web_lines[0], "[1, 2]", _web_lines[2]]) + "\n",
        3,
        QUARANTINED,
        rule="required",
        reasons={2: ("required: column 'event_id' is empty", "column 'visitor_id' is empty")},
    ),
    # ---- accepted: every row lands, with or without a warning ----
    case(
        "utf8-bom-csv",
        extract(CUSTOMERS),
        b"\xef\xbb\xbf" + csv_text(CUSTOMERS, valid(CUSTOMERS, 2)).encode(),
        2,
        ACCEPTED,
        check=customers_landed("C1", "C2"),
    ),
    case(
        "trailing-comma-on-every-row",
        extract(CUSTOMERS),
        "\n".join([_customer_lines[0], *(line + "," for line in _customer_lines[1:])]) + "\n",
        3,
        ACCEPTED,  # DuckDB reads an empty field after the last column of every row as a trailing delimiter
        check=customers_landed("C1", "C2", "C3"),
    ),
    case(
        "crlf-line-endings",
        extract(CUSTOMERS),
        csv_text(CUSTOMERS, valid(CUSTOMERS, 2), newline="\r\n"),
        2,
        ACCEPTED,
    ),
    case(
        "header-case-and-spaces",
        extract(CUSTOMERS),
        csv_text(CUSTOMERS, valid(CUSTOMERS, 2)).replace("customer_id,email", " Customer_ID ,EMAIL", 1),
        2,
        ACCEPTED,
        check=customers_landed("C1", "C2"),
    ),
    case(
        "quoted-comma-quote-newline",
        extract(TICKETS),
        csv_text(TICKETS, rows(TICKETS, {"subject": 'Refund, please: "order O1"\nsecond line'}, {})),
        2,
        ACCEPTED,
        check=quoting_check,
    ),
    case(
        "missing-optional-columns",
        extract(TICKETS),
        csv_text(
            TICKETS,
            valid(TICKETS, 2),
            columns=[c for c in DEFAULTS[TICKETS] if c not in ("subject", "agent_id")],
        ),
        2,
        ACCEPTED,
        warning="optional columns ['subject', 'agent_id'] are missing and land as NULL",
    ),
    case(
        "extra-unknown-column",
        extract(ORDERS),
        csv_text(ORDERS, [{**r, "coupon_code": "SPRING"} for r in valid(ORDERS, 2)]),
        2,
        ACCEPTED,
        warning="columns ['coupon_code'] are not in the contract and are ignored",
    ),
    case(
        "header-only",
        extract(CUSTOMERS),
        _customer_lines[0] + "\n",
        0,
        ACCEPTED,
        warning="header but no rows",
    ),
    case(
        "huge-field-1mb-subject",
        extract(TICKETS),
        csv_text(TICKETS, rows(TICKETS, {"subject": "Refund " + "x" * 1_000_000})),
        1,
        ACCEPTED,
        check=huge_subject_check,
    ),
    case(
        "mixed-time-zones",
        extract(CUSTOMERS),
        csv_text(CUSTOMERS, _mixed_zones),
        5,
        ACCEPTED,
        check=utc_times_check,
    ),
    case(
        "clock-skew-within-1-day",
        extract(ORDERS),
        csv_text(ORDERS, rows(ORDERS, {"ordered_at": (LOADED_AT + timedelta(hours=12)).isoformat() + "Z"})),
        1,
        ACCEPTED,
    ),
    case(
        "orphan-customer-reference",
        extract(ORDERS),
        csv_text(ORDERS, rows(ORDERS, {"customer_id": "C-NOT-IN-CRM"})),
        1,
        ACCEPTED,
    ),
    case(
        "jsonl-missing-optional-keys",
        extract(WEB, "jsonl"),
        jsonl_text(
            rows(WEB, {}, {"event_id": "W3"}), drop={2: ("page_path", "device", "utm_source", "referrer")}
        ),
        2,
        ACCEPTED,
        check=jsonl_nulls_check,
    ),
    case(
        "jsonl-blank-line",
        extract(WEB, "jsonl"),
        jsonl_text(_web_3[:2]).replace("\n", "\n\n", 1),
        2,
        ACCEPTED,
    ),
    case(
        "row-count-far-below-median",
        extract(CUSTOMERS),
        csv_text(CUSTOMERS, valid(CUSTOMERS, 1)),
        1,
        ACCEPTED,
        warning="row count far from the recent median of 20 rows per file: 1 rows",
        before=_history,
    ),
]


def _snapshot(paths: Paths) -> dict[str, str]:
    """Every file in the lake and quarantine (but the per-entity schema files), with its digest."""
    return {
        p.relative_to(paths.root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in (paths.lake, paths.quarantine)
        for p in folder.rglob("*")
        if p.is_file() and p.name != "_schema.parquet"
    }


def _write(paths: Paths, relative: str, data: bytes) -> None:
    path = paths.extracts / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@dataclass(frozen=True)
class Landing:
    paths: Paths
    report: SourceReport
    before: dict[str, str]  # lake and quarantine just before the case's file was landed


@pytest.fixture(scope="session")
def land(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Case], Landing]:
    """Land a case in a fresh warehouse of its own, once per session (both tests below read it)."""
    landed: dict[str, Landing] = {}

    def land_case(bad: Case) -> Landing:
        if bad.name not in landed:
            with pytest.MonkeyPatch.context() as mp:
                for var in PATH_VARS:
                    mp.delenv(var, raising=False)
                paths = Paths.from_env(tmp_path_factory.mktemp(bad.name) / "warehouse")
            for relative, data in bad.before:
                _write(paths, relative, data)
            if bad.before:
                assert land_source(paths, bad.source, LOADED_AT - timedelta(days=1)).errors == []
            before = _snapshot(paths)
            _write(paths, bad.relative, bad.data)
            landed[bad.name] = Landing(paths, land_source(paths, bad.source, LOADED_AT), before)
        return landed[bad.name]

    return land_case


def _params(cases: list[Case], xfail: Callable[[Case], str | None]) -> list[Any]:
    return [
        pytest.param(
            c, id=c.name, marks=[pytest.mark.xfail(strict=True, reason=r)] if (r := xfail(c)) else []
        )
        for c in cases
    ]


def test_the_corpus_is_big_and_distinct() -> None:
    assert len({c.name for c in CASES}) == len(CASES) >= 25
    assert len({(c.relative, c.data) for c in CASES}) == len(CASES)
    assert {c.outcome for c in CASES} == {REJECTED, QUARANTINED, ACCEPTED}


@pytest.mark.parametrize("bad", _params(CASES, lambda c: c.xfail))
def test_bad_input_has_its_outcome_and_loses_nothing(bad: Case, land: Callable[[Case], Landing]) -> None:
    landing = land(bad)
    paths, report, before = landing.paths, landing.report, landing.before
    if bad.outcome == REJECTED:
        assert [(e.file, e.rule) for e in report.errors] == [(bad.relative, bad.rule)]
        assert bad.relative in str(report.errors[0])
        assert [r for r in report.results if r.status == "landed"] == []
        assert not (paths.extracts / bad.relative).exists()
        rejected = paths.rejected / bad.relative
        # nothing lost: the whole file, byte for byte, is in rejected/
        assert rejected.read_bytes() == bad.data
        reason = json.loads(rejected.with_name(rejected.name + ".reason.json").read_text())
        assert (reason["file"], reason["rule"]) == (bad.relative, bad.rule)
        assert _snapshot(paths) == before  # nothing of it in the lake or quarantine
    else:
        assert report.errors == []
        (result,) = [r for r in report.results if r.file == bad.relative]
        assert {r.status for r in report.results if r is not result} <= {"skipped"}  # files of `before`
        assert (result.file, result.status) == (bad.relative, "landed")
        bad_rows = sorted(bad.reasons)
        # nothing lost: rows counted when building the file == rows landed + rows quarantined
        assert result.rows_read == bad.rows
        assert (result.rows_landed, result.rows_quarantined) == (bad.rows - len(bad_rows), len(bad_rows))
        lake = paths.lake / bad.folder / f"{bad.stem}.parquet"
        landed = lake_query(paths, f"select _row_number, _source_file from '{lake}' order by 1")
        assert landed == [(n, bad.relative) for n in range(1, bad.rows + 1) if n not in bad.reasons]
        quarantine = paths.quarantine / bad.folder / f"{bad.stem}.parquet"
        if bad.outcome == QUARANTINED:
            got = lake_query(
                paths, f"select _row_number, _source_file, _rule, _reason from '{quarantine}' order by 1"
            )
            assert [(n, source_file, rule) for n, source_file, rule, _ in got] == [
                (n, bad.relative, bad.rule) for n in bad_rows
            ]
            for number, *_, reason in got:
                assert bad.reasons[number][1] in reason, (number, reason)
            assert f"{len(bad_rows)} rows quarantined in {bad.stem}.parquet" in result.warnings
            # raw values kept as text beside the lineage columns
            types = dict(
                lake_query(paths, f"select column_name, column_type from (describe from '{quarantine}')")
            )
            assert {types[c] for c in DEFAULTS[bad.entity]} == {"VARCHAR"}
            assert {"_source_file", "_file_checksum", "_row_number", "_extract_date", "_loaded_at"} <= set(
                types
            )
        else:
            assert not quarantine.exists()
            if bad.warning is None:
                assert result.warnings == []
            else:
                assert any(bad.warning in w for w in result.warnings), result.warnings
    if bad.check:
        bad.check(paths)


@pytest.mark.parametrize(
    "bad", _params([c for c in CASES if c.outcome == QUARANTINED], lambda c: c.wording_xfail)
)
def test_quarantine_reason_words_the_rule_broken(bad: Case, land: Callable[[Case], Landing]) -> None:
    paths = land(bad).paths
    quarantine = paths.quarantine / bad.folder / f"{bad.stem}.parquet"
    got = dict(lake_query(paths, f"select _row_number, _reason from '{quarantine}'"))
    assert {n: bad.reasons[n][0] in got.get(n, "") for n in bad.reasons} == dict.fromkeys(
        bad.reasons, True
    ), got
