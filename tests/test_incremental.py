"""Incremental builds (docs/incremental.md): nights built one at a time give the same warehouse as a
full refresh over the same lake, late and out-of-order files included, and a night reads only its
own new rows."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from ingestion.contracts import SOURCES
from ingestion.landing import land_source
from ingestion.settings import DBT_PROJECT_DIR, Paths

DBT = Path(sys.executable).parent / "dbt"
DEMO = ("--customers", "200", "--days", "45", "--seed", "11")
FIRST_NIGHT_LAST_DAY = date(2025, 2, 9)
# the models built incrementally, and where run_results / compiled SQL find them
INCREMENTAL = {
    "stg_web__events": "staging/web",
    "stg_support__tickets": "staging/support",
    "stg_support__ticket_events": "staging/support",
    "stg_surveys__invitations": "staging/surveys",
    "stg_surveys__responses": "staging/surveys",
    "int_web_events_sessionized": "intermediate/web",
    "fct_web_sessions": "marts/web",
    "mart_web_engagement": "marts/web",
    "fct_support_tickets": "marts/support",
    "fct_survey_responses": "marts/cx",
}


def extract_day(file: Path) -> date:
    return date.fromisoformat(file.name.rsplit("_", 1)[1].split(".")[0])


def deliver(demo: Path, paths: Paths, days: list[date]) -> None:
    """Put the demo's extract files of these days in the extracts folder."""
    for file in sorted(demo.rglob("*_*.*")):
        if file.is_file() and extract_day(file) in days:
            target = paths.extracts / file.relative_to(demo)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(file, target)


def land(paths: Paths) -> None:
    for source in SOURCES:
        report = land_source(paths, source)
        assert not report.errors, report.errors
        assert report.totals()["rows_quarantined"] == 0


def dbt_build(paths: Paths, db: Path, target: Path, *args: str) -> dict[str, dict]:
    """`dbt build` into `db` over the lake; the run results by model name."""
    env = os.environ | {"CX_BUILD_DB": str(db), "CX_LAKE_DIR": str(paths.lake)}
    # unit tests do not read the lake: the rest of the suite runs them
    command = [str(DBT), "build", "--profiles-dir", ".", "--exclude-resource-type", "unit_test"]
    command += ["--target-path", str(target), "--log-path", str(target / "logs"), *args]
    done = subprocess.run(command, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:]
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1]: r for r in results if r["unique_id"].startswith("model.")}


def jsonl_rows(file: Path) -> list[dict]:
    return [json.loads(line) for line in file.read_text().splitlines() if line.strip()]


def append_csv(file: Path, rows: list[dict]) -> None:
    with file.open(newline="") as f:
        header = next(csv.reader(f))
    with file.open("a", newline="") as f:
        csv.DictWriter(f, fieldnames=header, lineterminator="\n").writerows(rows)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_late_rows(paths: Paths, db: Path, day: date) -> dict[str, str]:
    """Add to the extract files of `day` rows about earlier days: what a source sends late.

    Picked from what the warehouse holds after the earlier nights, so that each case exists: a
    re-sent web event with a changed page, an event late enough to join two sessions into one, an
    event re-sent under another visitor id, an identify event for a visitor who browsed
    anonymously, a ticket reopened days after it was solved (ticket re-sent and its event), a late
    agent reply, and a late survey answer. Returns what was picked.
    """
    with duckdb.connect(str(db), read_only=True) as con:
        resent, bridge, moved, identify = con.sql(
            """
            with sessions as (
                select visitor_id, visitor_session_number, min(occurred_at) as started_at,
                    max(occurred_at) as ended_at, count(*) as events
                from intermediate.int_web_events_sessionized
                group by all
            ),
            gaps as (
                -- a gap followed by two more sessions, so that joining two renumbers a third
                select visitor_id, ended_at,
                    lead(started_at) over by_number as next_start,
                    lead(started_at, 2) over by_number as after_next_start
                from sessions
                window by_number as (partition by visitor_id order by visitor_session_number)
            )
            select
                (select min(web_event_id) from staging.stg_web__events where occurred_at::date = '2025-02-05'),
                (select arg_min([visitor_id, (ended_at + (next_start - ended_at) / 2)::varchar], ended_at)
                 from gaps where next_start - ended_at between interval 31 minute and interval 59 minute
                 and after_next_start is not null),
                (select arg_min([s.visitor_id, e.web_event_id], e.web_event_id)
                 from sessions as s
                 inner join intermediate.int_web_events_sessionized as e using (visitor_id, visitor_session_number)
                 where s.events = 1 and s.visitor_session_number > 1 and e.customer_id is null),
                (select min(visitor_id) from intermediate.int_visitors_resolved where customer_id is null
                 and visitor_id in (select visitor_id from sessions where visitor_session_number = 3))
            """
        ).fetchone()
        moved_to = con.sql(
            "select min(visitor_id) from intermediate.int_visitors_resolved where customer_id is null "
            f"and visitor_id not in ('{moved[0]}', '{identify}')"
        ).fetchone()[0]
        identify_at, identify_customer = con.sql(
            f"""
            select
                (select min(occurred_at) from staging.stg_web__events where visitor_id = '{identify}'),
                (select min(customer_id) from staging.stg_crm__customers)
            """
        ).fetchone()
        solved_ticket, solved_at = con.sql(
            "select ticket_id, greatest(last_solved_at, closed_at) from marts.fct_support_tickets "
            "where not is_open and greatest(last_solved_at, closed_at) < '2025-02-06' order by ticket_id limit 1"
        ).fetchone()
        replied_ticket, reply_at = con.sql(
            "select ticket_id, created_at + interval 2 hour from marts.fct_support_tickets "
            f"where created_at < '2025-02-06' and ticket_id != '{solved_ticket}' order by ticket_id limit 1"
        ).fetchone()
        invitation, invited_at, survey_type, touchpoint = con.sql(
            "select invitation_id, sent_at, survey_type, touchpoint from staging.stg_surveys__invitations "
            "where invitation_id not in (select invitation_id from staging.stg_surveys__responses "
            "where invitation_id is not null) and survey_type = 'NPS' order by sent_at limit 1"
        ).fetchone()
    assert all([resent, bridge, moved, identify, moved_to, solved_ticket, replied_ticket, invitation])

    stamp = day.isoformat()
    events = paths.extracts / "web" / "events" / f"events_{stamp}.jsonl"
    earlier = {
        row["event_id"]: row
        for file in sorted((paths.extracts / "web" / "events").glob("*.jsonl"))
        for row in jsonl_rows(file)
    }
    template = earlier[resent]
    late = [
        template | {"page_path": "/resent"},
        template
        | {
            "event_id": "evt_late_bridge",
            "visitor_id": bridge[0],
            "customer_id": None,
            "occurred_at": iso(datetime.fromisoformat(bridge[1])),
            "event_name": "page_view",
        },
        earlier[moved[1]] | {"visitor_id": moved_to},
        template
        | {
            "event_id": "evt_late_identify",
            "visitor_id": identify,
            "customer_id": identify_customer,
            "occurred_at": iso(identify_at + timedelta(seconds=1)),
            "event_name": "identify",
        },
    ]
    with events.open("a") as f:
        f.writelines(json.dumps(row) + "\n" for row in late)

    reopened_at = iso(solved_at + timedelta(days=2))
    tickets = {
        row["ticket_id"]: row
        for file in sorted((paths.extracts / "support" / "tickets").glob("*.csv"))
        for row in csv.DictReader(file.open())
    }
    append_csv(
        paths.extracts / "support" / "tickets" / f"tickets_{stamp}.csv",
        [tickets[solved_ticket] | {"status": "open", "updated_at": reopened_at}],
    )
    append_csv(
        paths.extracts / "support" / "ticket_events" / f"ticket_events_{stamp}.csv",
        [
            {
                "event_id": "tev_late_reopen",
                "ticket_id": solved_ticket,
                "occurred_at": reopened_at,
                "event_type": "reopened",
                "author_type": "customer",
                "status": "open",
            },
            {
                "event_id": "tev_late_reply",
                "ticket_id": replied_ticket,
                "occurred_at": iso(reply_at),
                "event_type": "agent_reply",
                "author_type": "agent",
                "agent_id": "agt_01",
                "is_public": "true",
                "body": "Sorry for the wait, this is fixed now.",
            },
        ],
    )
    append_csv(
        paths.extracts / "surveys" / "responses" / f"responses_{stamp}.csv",
        [
            {
                "response_id": "rsp_late",
                "invitation_id": invitation,
                "survey_type": survey_type,
                "touchpoint": touchpoint,
                "score": "3",
                "is_anonymous": "false",
                "responded_at": iso(invited_at + timedelta(hours=5)),
            }
        ],
    )
    return {
        "bridge": bridge[0],
        "moved_from": moved[0],
        "identify": identify,
        "identify_customer": identify_customer,
        "reopened": solved_ticket,
    }


def tables(con: duckdb.DuckDBPyConnection, catalog: str) -> list[tuple[str, str]]:
    return con.sql(
        f"select schema_name, table_name from duckdb_tables() where database_name = '{catalog}' "
        "and schema_name in ('staging', 'intermediate', 'marts') order by all"
    ).fetchall()


def count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return con.sql(f"select count(*) from ({sql})").fetchone()[0]


def differing_rows(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> int:
    """Rows of one build missing from the other, both ways (floating point compared to 9 decimals)."""
    columns = con.sql(
        f"select column_name, data_type from duckdb_columns() where database_name = 'incremental' "
        f"and schema_name = '{schema}' and table_name = '{table}' order by column_index"
    ).fetchall()
    select = ", ".join(
        f"round({name}, 9) as {name}" if kind in ("DOUBLE", "FLOAT") else name for name, kind in columns
    )
    one, other = (f"select {select} from {db}.{schema}.{table}" for db in ("incremental", "full_refresh"))
    return con.sql(
        f"select (select count(*) from ({one} except all {other})) + (select count(*) from ({other} except all {one}))"
    ).fetchone()[0]


def test_nightly_increments_equal_a_full_refresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo = tmp_path / "demo"
    subprocess.run(
        [sys.executable, "-m", "ingestion.demo", *DEMO, "--out", str(demo)], check=True, capture_output=True
    )
    monkeypatch.setenv("CX_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    paths = Paths.from_env()
    paths.ensure()
    incremental, target = tmp_path / "incremental.duckdb", tmp_path / "target"
    first = [FIRST_NIGHT_LAST_DAY - timedelta(days=n) for n in range(40)]

    # night 1: forty days; night 2: the next day and the one after (the day between is late)
    deliver(demo, paths, first)
    land(paths)
    dbt_build(paths, incremental, target)
    deliver(demo, paths, [date(2025, 2, 10), date(2025, 2, 12)])
    land(paths)
    dbt_build(paths, incremental, target)

    # night 3: the late day, the next day, and rows about earlier days in the next day's files
    deliver(demo, paths, [date(2025, 2, 11), date(2025, 2, 13)])
    with duckdb.connect(str(incremental), read_only=True) as con:
        sessions_before = con.sql(
            "select visitor_id, count(*) from marts.fct_web_sessions group by all"
        ).fetchall()
    late = write_late_rows(paths, incremental, date(2025, 2, 13))
    land(paths)
    night = dbt_build(paths, incremental, target)
    assert all(night[model]["status"] == "success" for model in INCREMENTAL)

    with duckdb.connect(str(incremental), read_only=True) as con:
        # the late rows took effect: two sessions joined (and the later ones renumbered), the moved
        # event changed visitor, the anonymous visitor's sessions all belong to the customer now,
        # the solved ticket is open again, the late answer counts
        sessions = dict(sessions_before)
        assert count(con, f"from marts.fct_web_sessions where visitor_id = '{late['bridge']}'") == (
            sessions[late["bridge"]] - 1
        )
        assert count(con, f"from marts.fct_web_sessions where visitor_id = '{late['moved_from']}'") == (
            sessions[late["moved_from"]] - 1
        )
        assert con.sql(
            f"select list(distinct customer_id) from marts.fct_web_sessions where visitor_id = '{late['identify']}'"
        ).fetchone()[0] == [late["identify_customer"]]
        assert con.sql(
            f"select is_open, is_reopened from marts.fct_support_tickets where ticket_id = '{late['reopened']}'"
        ).fetchone() == (True, True)
        assert count(con, "from marts.fct_survey_responses where response_id = 'rsp_late'") == 1

        # the night read only its new rows: its compiled (incremental) queries, run again, select a
        # small share of each table (the sessions models take every event of a returning visitor)
        for model, share in (
            ("stg_web__events", 0.1),
            ("int_web_events_sessionized", 0.4),
            ("fct_web_sessions", 0.4),
        ):
            compiled = target / "compiled" / "cx_warehouse" / "models" / INCREMENTAL[model] / f"{model}.sql"
            batch = count(con, compiled.read_text())
            total = count(con, f"from {INCREMENTAL[model].split('/')[0]}.{model}")
            assert 0 < batch < share * total, (model, batch, total)

    full = tmp_path / "full.duckdb"
    dbt_build(paths, full, tmp_path / "full_target", "--full-refresh")

    with duckdb.connect() as con:
        con.execute(f"attach '{incremental}' as incremental (read_only)")
        con.execute(f"attach '{full}' as full_refresh (read_only)")
        assert tables(con, "incremental") == tables(con, "full_refresh")
        differences = {
            f"{schema}.{table}": n
            for schema, table in tables(con, "incremental")
            if (n := differing_rows(con, schema, table))
        }
        assert differences == {}
