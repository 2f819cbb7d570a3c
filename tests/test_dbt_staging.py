"""End-to-end test of the dbt staging layer: a tiny Parquet lake -> `dbt build` -> exact staged values.

The lake is written here with DuckDB in the layout landing produces (`<source>/<entity>/*.parquet`,
contract columns with contract types, then the lineage columns, plus a zero-row `_schema.parquet`),
so the test does not depend on the landing code. One `dbt build` (unit tests, models, data tests)
runs for the whole module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest
import yaml

from ingestion.contracts import BY_NAME, ENTITIES, LINEAGE_COLUMNS, SOURCES

REPO = Path(__file__).resolve().parents[1]
PROJECT_DIR = REPO / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"
LOADED_AT = datetime(2024, 3, 3, 6, 0, 0)

# (entity, extract date) -> rows; each row gives some contract columns, the rest stay null.
LAKE: dict[tuple[str, str], list[dict]] = {
    ("crm.customers", "2024-03-01"): [
        {
            "customer_id": "c1",
            "email": "  Ann@Example.COM ",
            "full_name": "Ann Lee",
            "plan": "basic",
            "region": "europe",
            "country": "de",
            "signup_at": "2024-03-01 08:00:00",
            "updated_at": "2024-03-01 08:00:00",
        },
        {
            "customer_id": "c2",
            "email": "bob@example.com",
            "full_name": "  ",
            "plan": "standard",
            "region": "north_america",
            "country": "US",
            "signup_at": "2024-03-01 09:00:00",
            "updated_at": "2024-03-01 09:00:00",
        },
    ],
    ("crm.customers", "2024-03-02"): [
        # c1 upgraded: the second version must win
        {
            "customer_id": "c1",
            "email": "  Ann@Example.COM ",
            "full_name": "Ann Lee",
            "plan": "premium",
            "region": "europe",
            "country": "de",
            "signup_at": "2024-03-01 08:00:00",
            "updated_at": "2024-03-02 10:30:00",
        },
    ],
    ("crm.orders", "2024-03-01"): [
        {
            "order_id": "o1",
            "customer_id": "c1",
            "ordered_at": "2024-03-01 08:05:00",
            "order_type": "new",
            "plan": "basic",
            "amount": "10.00",
            "currency": "EUR",
        },
        {
            "order_id": "o2",
            "customer_id": "c2",
            "ordered_at": "2024-03-01 09:10:00",
            "order_type": "one_off",
            "quantity": 2,
            "amount": "5.50",
            "currency": "usd ",
        },
    ],
    ("crm.orders", "2024-03-02"): [
        # o1 re-sent: one row per order
        {
            "order_id": "o1",
            "customer_id": "c1",
            "ordered_at": "2024-03-01 08:05:00",
            "order_type": "new",
            "plan": "basic",
            "amount": "10.00",
            "currency": "EUR",
        },
        {
            "order_id": "o3",
            "customer_id": "c1",
            "ordered_at": "2024-03-02 10:30:00",
            "order_type": "upgrade",
            "plan": "premium",
            "amount": "30.00",
            "currency": "EUR",
        },
    ],
    ("support.tickets", "2024-03-01"): [
        {
            "ticket_id": "t1",
            "customer_id": "c1",
            "requester_email": "ANN@example.com",
            "channel": "email",
            "priority": "normal",
            "subject": "Invoice",
            "created_at": "2024-03-01 10:00:00",
            "status": "open",
            "updated_at": "2024-03-01 10:00:00",
        },
        {
            "ticket_id": "t2",
            "requester_email": "someone@else.org",
            "channel": "chat",
            "priority": "low",
            "created_at": "2024-03-01 11:00:00",
            "status": "new",
            "updated_at": "2024-03-01 11:00:00",
        },
    ],
    ("support.tickets", "2024-03-02"): [
        {
            "ticket_id": "t1",
            "customer_id": "c1",
            "requester_email": "ANN@example.com",
            "channel": "email",
            "priority": "normal",
            "subject": "Invoice",
            "created_at": "2024-03-01 10:00:00",
            "status": "solved",
            "agent_id": "a1",
            "updated_at": "2024-03-02 09:00:00",
        },
    ],
    ("support.ticket_events", "2024-03-01"): [
        {
            "event_id": "e1",
            "ticket_id": "t1",
            "occurred_at": "2024-03-01 10:00:00",
            "event_type": "created",
            "author_type": "customer",
            "is_public": True,
            "status": "open",
            "body": "Where is my invoice?",
        },
        {
            "event_id": "e3",
            "ticket_id": "t2",
            "occurred_at": "2024-03-01 11:00:00",
            "event_type": "created",
            "author_type": "customer",
            "is_public": True,
            "status": "new",
        },
    ],
    ("support.ticket_events", "2024-03-02"): [
        {
            "event_id": "e2",
            "ticket_id": "t1",
            "occurred_at": "2024-03-02 09:30:00",
            "event_type": "csat_rated",
            "author_type": "customer",
            "csat_score": 5,
        },
    ],
    ("web.events", "2024-03-01"): [
        {
            "event_id": "w1",
            "visitor_id": "v1",
            "occurred_at": "2024-03-01 07:59:00",
            "event_name": "page_view",
            "page_path": "/pricing",
            "utm_source": "",
            "device": "desktop",
        },
        {
            "event_id": "w2",
            "visitor_id": "v1",
            "customer_id": "c1",
            "occurred_at": "2024-03-01 08:00:00",
            "event_name": "sign_up",
            "page_path": "/signup",
            "device": "desktop",
        },
        {
            "event_id": "w3",
            "visitor_id": "v2",
            "customer_id": "c2",
            "occurred_at": "2024-03-01 09:10:00",
            "event_name": "purchase",
            "order_id": "o2",
            "revenue": "5.50",
            "device": "mobile",
        },
    ],
    ("surveys.invitations", "2024-03-01"): [
        {
            "invitation_id": "i1",
            "survey_type": "NPS",
            "touchpoint": "relationship",
            "channel": "email",
            "customer_id": "c1",
            "sent_at": "2024-03-01 12:00:00",
        },
        {
            "invitation_id": "i2",
            "survey_type": "CSAT",
            "touchpoint": "support_ticket",
            "channel": "email",
            "customer_id": "c1",
            "related_id": "t1",
            "sent_at": "2024-03-02 09:00:00",
        },
    ],
    ("surveys.responses", "2024-03-02"): [
        {
            "response_id": "r1",
            "invitation_id": "i1",
            "survey_type": "NPS",
            "touchpoint": "relationship",
            "score": 9,
            "is_anonymous": False,
            "responded_at": "2024-03-02 08:00:00",
        },
        # promised anonymity: must not stay linked to invitation i2 (and so to customer c1)
        {
            "response_id": "r2",
            "invitation_id": "i2",
            "survey_type": "CSAT",
            "touchpoint": "support_ticket",
            "score": 4,
            "comment": " Quick help ",
            "respondent_email": "ann@example.com",
            "is_anonymous": True,
            "responded_at": "2024-03-02 09:15:00",
        },
        {
            "response_id": "r3",
            "survey_type": "CES",
            "touchpoint": "website",
            "score": 2,
            "respondent_email": " Carl@Example.com",
            "is_anonymous": False,
            "responded_at": "2024-03-02 10:00:00",
        },
    ],
}

STAGING_MODELS = {
    "crm.customers": ("stg_crm__customers", "customer_id"),
    "crm.orders": ("stg_crm__orders", "order_id"),
    "support.tickets": ("stg_support__tickets", "ticket_id"),
    "support.ticket_events": ("stg_support__ticket_events", "ticket_event_id"),
    "web.events": ("stg_web__events", "web_event_id"),
    "surveys.invitations": ("stg_surveys__invitations", "invitation_id"),
    "surveys.responses": ("stg_surveys__responses", "response_id"),
}


def _write_lake(lake: Path) -> None:
    """One Parquet file per extract file plus `_schema.parquet`, typed as the contracts say."""
    con = duckdb.connect()
    for entity in ENTITIES:
        folder = entity.folder(lake)
        folder.mkdir(parents=True)
        columns = [*entity.columns, *LINEAGE_COLUMNS]
        con.execute(f"create table t ({', '.join(f'{c.name} {c.type}' for c in columns)})")
        con.execute(f"copy (select * from t) to '{folder / '_schema.parquet'}' (format parquet)")
        for (name, extract_date), rows in LAKE.items():
            if name != entity.qualified_name:
                continue
            file_name = entity.file_name(extract_date)
            source_file = f"{entity.source}/{entity.name}/{file_name}"
            con.execute("delete from t")
            for row_number, row in enumerate(rows, start=1):
                lineage = {
                    "_source_file": source_file,
                    "_file_checksum": f"sha256-of-{file_name}",
                    "_row_number": row_number,
                    "_extract_date": date.fromisoformat(extract_date),
                    "_loaded_at": LOADED_AT,
                }
                values = [row.get(c.name) for c in entity.columns] + [
                    lineage[c.name] for c in LINEAGE_COLUMNS
                ]
                con.execute(f"insert into t values ({', '.join('?' for _ in columns)})", values)
            target = folder / file_name.replace(f".{entity.example_format}", ".parquet")
            con.execute(f"copy (select * from t order by _row_number) to '{target}' (format parquet)")
        con.execute("drop table t")
    con.close()


@pytest.fixture(scope="module")
def dbt_build(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("dbt_staging")
    lake = tmp / "lake"
    _write_lake(lake)
    build_db = tmp / "build" / "cx_build.duckdb"
    build_db.parent.mkdir()
    target = tmp / "target"
    env = {**os.environ, "CX_LAKE_DIR": str(lake), "CX_BUILD_DB": str(build_db)}
    result = subprocess.run(
        [
            str(DBT),
            "build",
            "--select",
            "path:models/staging",
            "--indirect-selection",
            "cautious",
            "--project-dir",
            str(PROJECT_DIR),
            "--profiles-dir",
            str(PROJECT_DIR),
            "--target-path",
            str(target),
            "--log-path",
            str(tmp / "logs"),
        ],
        cwd=PROJECT_DIR,  # dbt-duckdb resolves python module_paths against the working folder
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return {"result": result, "db": build_db, "target": target}


@pytest.fixture(scope="module")
def db(dbt_build: dict):
    result = dbt_build["result"]
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    con = duckdb.connect(str(dbt_build["db"]), read_only=True)
    yield con
    con.close()


def test_dbt_build_succeeds_with_all_tests(dbt_build: dict) -> None:
    result = dbt_build["result"]
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    run_results = json.loads((dbt_build["target"] / "run_results.json").read_text())
    by_type: dict[str, list[str]] = {}
    for r in run_results["results"]:
        by_type.setdefault(r["unique_id"].split(".")[0], []).append(r["status"])
    assert len(by_type["model"]) == len(STAGING_MODELS)
    assert set(by_type["model"]) == {"success"}
    assert by_type["unit_test"] and set(by_type["unit_test"]) == {"pass"}
    # relationships tests only warn by design; the fixture has no orphans, so all pass
    assert by_type["test"] and set(by_type["test"]) == {"pass"}


def test_staging_tables_have_one_row_per_key(db) -> None:
    for entity_name, (model, key) in STAGING_MODELS.items():
        entity = BY_NAME[entity_name]
        expected = {
            row[entity.key] for (name, _), rows in LAKE.items() if name == entity_name for row in rows
        }
        keys = [k for (k,) in db.execute(f"select {key} from staging.{model}").fetchall()]
        assert sorted(keys) == sorted(expected), model


def test_staging_is_self_contained(db) -> None:
    # every staging relation is a table: the build file must not point at lake files
    rows = db.execute(
        "select table_name, table_type from information_schema.tables where table_schema = 'staging'"
    ).fetchall()
    assert {name for name, _ in rows} == {model for model, _ in STAGING_MODELS.values()}
    assert {kind for _, kind in rows} == {"BASE TABLE"}


def test_latest_customer_version_wins_and_email_is_normalised(db) -> None:
    rows = db.execute(
        "select customer_id, email, full_name, plan, country, updated_at, _source_file, _row_number"
        " from staging.stg_crm__customers order by customer_id"
    ).fetchall()
    assert rows == [
        (
            "c1",
            "ann@example.com",
            "Ann Lee",
            "premium",
            "DE",
            datetime(2024, 3, 2, 10, 30),
            "crm/customers/customers_2024-03-02.csv",
            1,
        ),
        (
            "c2",
            "bob@example.com",
            None,
            "standard",
            "US",
            datetime(2024, 3, 1, 9, 0),
            "crm/customers/customers_2024-03-01.csv",
            2,
        ),
    ]


def test_latest_ticket_version_wins(db) -> None:
    rows = db.execute(
        "select ticket_id, status, agent_id, requester_email from staging.stg_support__tickets order by 1"
    ).fetchall()
    assert rows == [("t1", "solved", "a1", "ann@example.com"), ("t2", "new", None, "someone@else.org")]


def test_resent_order_keeps_latest_extract(db) -> None:
    rows = db.execute(
        "select order_id, amount, currency, _extract_date from staging.stg_crm__orders order by 1"
    ).fetchall()
    assert [(o, str(a), c, str(d)) for o, a, c, d in rows] == [
        ("o1", "10.00", "EUR", "2024-03-02"),
        ("o2", "5.50", "USD", "2024-03-01"),
        ("o3", "30.00", "EUR", "2024-03-02"),
    ]


def test_anonymous_response_is_unlinked(db) -> None:
    rows = db.execute(
        "select response_id, invitation_id, respondent_email, is_anonymous, score, comment"
        " from staging.stg_surveys__responses order by 1"
    ).fetchall()
    assert rows == [
        ("r1", "i1", None, False, 9, None),
        ("r2", None, None, True, 4, "Quick help"),
        ("r3", None, "carl@example.com", False, 2, None),
    ]


def test_blank_strings_are_null(db) -> None:
    assert db.execute(
        "select utm_source from staging.stg_web__events where web_event_id = 'w1'"
    ).fetchone() == (None,)


def test_timestamps_stay_naive_utc(db) -> None:
    types = dict(
        db.execute(
            "select column_name, data_type from information_schema.columns"
            " where table_schema = 'staging' and table_name = 'stg_crm__customers'"
        ).fetchall()
    )
    assert types["signup_at"] == types["updated_at"] == types["_loaded_at"] == "TIMESTAMP"


def test_every_staged_column_is_documented(dbt_build: dict, db) -> None:
    manifest = json.loads((dbt_build["target"] / "manifest.json").read_text())
    for model, _ in STAGING_MODELS.values():
        node = manifest["nodes"][f"model.cx_warehouse.{model}"]
        documented = {name for name, col in node["columns"].items() if col["description"]}
        built = {
            name
            for (name,) in db.execute(
                "select column_name from information_schema.columns"
                f" where table_schema = 'staging' and table_name = '{model}'"
            ).fetchall()
        }
        assert node["description"], model
        assert built == documented, model


def test_sources_match_the_contracts() -> None:
    for source in SOURCES:
        spec = yaml.safe_load(
            (PROJECT_DIR / "models" / "staging" / source / f"_{source}__sources.yml").read_text()
        )
        (src,) = spec["sources"]
        assert src["name"] == source
        tables = {t["name"]: t for t in src["tables"]}
        expected = {e.name: e for e in ENTITIES if e.source == source}
        assert set(tables) == set(expected)
        for name, entity in expected.items():
            columns = [(c["name"], c["data_type"]) for c in tables[name]["columns"]]
            contract = [(c.name, c.type.lower()) for c in (*entity.columns, *LINEAGE_COLUMNS)]
            assert columns == contract, f"{source}.{name}"
            assert all(c.get("description") for c in tables[name]["columns"])
