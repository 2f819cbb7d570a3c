"""Support performance on a year of demo data: the marts checked against the extract files.

Every expected number is recomputed here from the help-desk extracts with pandas and the
definitions of docs/support.md, never read back from the warehouse. Minutes count clock-minute
marks passed, like DuckDB's date_diff('minute'); business minutes are the marks inside the
business hours of the seed files (checked mark by mark, summer time and holidays included).
"""

from __future__ import annotations

from datetime import date, time

import duckdb
import numpy as np
import pandas as pd
import pytest

from ingestion.settings import DBT_PROJECT_DIR

SEEDS = DBT_PROJECT_DIR / "seeds" / "support"
MINUTE = pd.Timedelta(minutes=1)
ADDITIVE = [
    "tickets_created",
    "first_replies",
    "total_first_reply_minutes",
    "total_first_reply_business_minutes",
    "immediate_first_replies",
    "first_reply_sla_achieved",
    "first_reply_sla_breached",
    "tickets_solved",
    "total_full_resolution_minutes",
    "total_full_resolution_business_minutes",
    "resolution_sla_achieved",
    "resolution_sla_breached",
    "reopened_tickets",
    "first_contact_resolutions",
    "open_tickets_at_end",
]
DIMENSIONS = ["channel", "priority", "customer_segment"]
# The marts round half away from zero in floating point, pandas to even: a half may go either way.
ROUNDING = 0.05 + 1e-9


def utc(values: pd.Series) -> pd.Series:
    """ISO 8601 strings with any offset as naive UTC timestamps (the warehouse's convention)."""
    return pd.to_datetime(values, utc=True, format="ISO8601").dt.tz_localize(None)


def minutes(start: pd.Series, end: pd.Series) -> pd.Series:
    """Clock-minute marks passed from start to end: date_diff('minute', start, end)."""
    return (end.dt.floor("min") - start.dt.floor("min")) / MINUTE


@pytest.fixture(scope="module")
def events(demo_files: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every ticket event once, with its UTC time."""
    frame = demo_files["support.ticket_events"].drop_duplicates("event_id", keep="last")
    public = frame.is_public.astype(str).str.lower() == "true"
    return frame.assign(occurred_utc=utc(frame.occurred_at), public=public)


def last_state_change(events: pd.DataFrame) -> pd.Series:
    """Per ticket, the last of its solved / closed / reopened events (ties in name order, as dbt)."""
    changes = events[events.event_type.isin(["solved", "closed", "reopened"])]
    return changes.sort_values(["occurred_utc", "event_type"]).groupby("ticket_id").event_type.last()


@pytest.fixture(scope="module")
def tickets(demo_files: dict[str, pd.DataFrame], events: pd.DataFrame) -> pd.DataFrame:
    """One row per ticket with its facts, recomputed from the ticket and event extracts."""
    versions = demo_files["support.tickets"]
    latest = versions.sort_values("updated_at").drop_duplicates("ticket_id", keep="last")
    frame = latest.set_index("ticket_id")[["channel", "priority", "created_at"]]
    frame["created_at"] = utc(frame.created_at)
    created_by_agent = events[(events.event_type == "created") & (events.author_type == "agent")]
    frame["is_outbound"] = frame.index.isin(created_by_agent.ticket_id)
    replies = events[(events.event_type == "agent_reply") & events.public]
    frame["first_reply_at"] = replies.groupby("ticket_id").occurred_utc.min()
    frame["last_solved_at"] = events[events.event_type == "solved"].groupby("ticket_id").occurred_utc.max()
    frame["reopens"] = events[events.event_type == "reopened"].groupby("ticket_id").size()
    frame["reopens"] = frame.reopens.fillna(0)
    # open at the end of the data: never solved or closed, or reopened since
    frame["is_open"] = ~last_state_change(events).reindex(frame.index).isin(["solved", "closed"])
    frame["resolved_at"] = frame.last_solved_at.where(~frame.is_open)
    frame["first_reply_minutes"] = minutes(frame.created_at, frame.first_reply_at)
    frame["full_resolution_minutes"] = minutes(frame.created_at, frame.last_solved_at)
    return frame


@pytest.fixture(scope="module")
def requests(tickets: pd.DataFrame) -> pd.DataFrame:
    """Customer requests: the tickets the company did not open itself."""
    return tickets[~tickets.is_outbound]


@pytest.fixture(scope="module")
def mart(demo_db: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return demo_db.execute("select * from marts.mart_support_performance").df()


def all_rows(mart: pd.DataFrame, period_type: str) -> pd.DataFrame:
    totals = mart[(mart.period_type == period_type) & (mart.totals_over == ",".join(DIMENSIONS))]
    return (
        totals.assign(period_start=pd.to_datetime(totals.period_start)).set_index("period_start").sort_index()
    )


def by_month(moments: pd.Series) -> pd.Series:
    return moments.dt.to_period("M").dt.to_timestamp()


def test_ticket_volume_leaves_out_outbound_tickets(demo_db, mart, tickets, requests) -> None:
    assert tickets.is_outbound.any()  # the demo's close-the-loop follow-ups
    assert demo_db.execute("select count(*) from marts.fct_support_tickets").fetchone()[0] == len(tickets)
    assert demo_db.execute(
        "select count(*) filter (where is_outbound) from marts.fct_support_tickets"
    ).fetchone()[0] == int(tickets.is_outbound.sum())
    for period_type in ("day", "month"):
        assert all_rows(mart, period_type).tickets_created.sum() == len(requests)
    months = all_rows(mart, "month").tickets_created
    expected = by_month(requests.created_at).value_counts()
    assert months[months > 0].to_dict() == expected.to_dict()


def test_average_resolution_is_total_time_of_solved_tickets_over_tickets_solved(mart, requests) -> None:
    solved = requests[requests.resolved_at.notna()]
    assert len(solved) > 0.9 * len(requests)
    months = all_rows(mart, "month")
    expected = solved.groupby(by_month(solved.resolved_at)).full_resolution_minutes.agg(
        ["size", "sum", "mean"]
    )
    got = months.loc[expected.index]
    assert got.tickets_solved.tolist() == expected["size"].tolist()
    assert got.total_full_resolution_minutes.tolist() == expected["sum"].tolist()
    assert got.average_full_resolution_minutes.tolist() == pytest.approx(
        expected["mean"].tolist(), abs=ROUNDING
    )
    overall = months.total_full_resolution_minutes.sum() / months.tickets_solved.sum()
    assert overall == pytest.approx(solved.full_resolution_minutes.mean())


def test_share_of_first_replies_within_ten_minutes(mart, requests) -> None:
    replied = requests[requests.first_reply_at.notna()]
    months = all_rows(mart, "month")
    immediate = replied.first_reply_minutes <= 10
    expected = immediate.groupby(by_month(replied.first_reply_at)).agg(["size", "sum"])
    got = months.loc[expected.index]
    assert got.first_replies.tolist() == expected["size"].tolist()
    assert got.immediate_first_reply_pct.tolist() == pytest.approx(
        (100 * expected["sum"] / expected["size"]).tolist(), abs=ROUNDING
    )
    assert months.immediate_first_replies.sum() / months.first_replies.sum() == pytest.approx(
        immediate.mean()
    )
    assert 0.1 < immediate.mean() < 0.9  # chat and phone are answered in minutes, email and web not


def test_reopen_rate_counts_solved_tickets_in_the_month_they_were_solved(mart, requests) -> None:
    solved = requests[requests.resolved_at.notna()]
    reopened = (solved.reopens > 0).groupby(by_month(solved.resolved_at)).agg(["size", "sum"])
    got = all_rows(mart, "month").loc[reopened.index]
    assert got.reopened_tickets.tolist() == reopened["sum"].tolist()
    assert got.reopen_rate_pct.tolist() == pytest.approx(
        (100 * reopened["sum"] / reopened["size"]).tolist(), abs=ROUNDING
    )
    assert reopened["sum"].sum() > 0


def open_at(requests: pd.DataFrame, events: pd.DataFrame, moment: pd.Timestamp) -> int:
    """Tickets created before the moment and not solved or closed (or reopened since) by then."""
    created = requests.index[requests.created_at < moment]
    last = last_state_change(events[events.occurred_utc < moment]).reindex(created)
    return int((~last.isin(["solved", "closed"])).sum())


def test_backlog_is_the_tickets_open_at_the_end_of_the_period(mart, requests, events) -> None:
    days = all_rows(mart, "day")
    busiest = requests.created_at.dt.floor("D").value_counts().idxmax()
    assert days.loc[busiest, "open_tickets_at_end"] == open_at(
        requests, events, busiest + pd.Timedelta(days=1)
    )
    last_day = days.index.max()
    for month_start, row in all_rows(mart, "month").iterrows():
        end = min(month_start + pd.offsets.MonthBegin(1), last_day + pd.Timedelta(days=1))
        assert row.open_tickets_at_end == open_at(requests, events, end), month_start
    assert (days.open_tickets_at_end > 0).sum() > 30  # the email backlog shows


def test_totals_add_up_across_dimensions(mart) -> None:
    finest = mart[mart.totals_over == ""]
    for totals_over, totals in mart[mart.totals_over != ""].groupby("totals_over"):
        kept = [d for d in DIMENSIONS if d not in totals_over.split(",")]
        expected = finest.groupby(["period_type", "period_start", *kept])[ADDITIVE].sum()
        got = totals.set_index(["period_type", "period_start", *kept])[ADDITIVE].sort_index()
        pd.testing.assert_frame_equal(got, expected.loc[got.index], check_dtype=False, obj=totals_over)
    days = mart[mart.period_type == "day"].assign(
        month=lambda f: pd.to_datetime(f.period_start).dt.to_period("M")
    )
    months = mart[mart.period_type == "month"].assign(
        month=lambda f: pd.to_datetime(f.period_start).dt.to_period("M")
    )
    flows = ["tickets_created", "first_replies", "tickets_solved", "total_full_resolution_minutes"]
    summed = days.groupby(["month", *DIMENSIONS])[flows].sum()
    pd.testing.assert_frame_equal(
        months.set_index(["month", *DIMENSIONS])[flows].sort_index(), summed.sort_index(), check_dtype=False
    )


def business_schedule() -> tuple[pd.DataFrame, set[date]]:
    hours = pd.read_csv(SEEDS / "support_business_hours.csv")
    holidays = set(pd.to_datetime(pd.read_csv(SEEDS / "support_holidays.csv").holiday_date).dt.date)
    return hours, holidays


def business_marks(start: pd.Timestamp, end: pd.Timestamp, hours: pd.DataFrame, holidays: set[date]) -> int:
    """The clock-minute marks in (start, end] that fall inside an opening window of the seeds."""
    if pd.isna(start) or pd.isna(end):
        return -1
    marks = pd.date_range(start.floor("min") + MINUTE, end.floor("min"), freq="min", tz="UTC")
    inside = np.zeros(len(marks), dtype=bool)
    for zone, windows in hours.groupby("time_zone"):
        local = marks.tz_convert(zone)
        clock = local.hour * 60 + local.minute
        weekday = local.day_name().str.lower()
        working = ~pd.Index(local.date).isin(list(holidays))
        for row in windows.itertuples():
            opens, closes = (time.fromisoformat(row.opens), time.fromisoformat(row.closes))
            # a window (opens, closes]: the mark at opening time starts it, the one at closing ends it
            inside |= (
                (weekday == row.weekday)
                & working
                & (clock > opens.hour * 60 + opens.minute)
                & (clock <= closes.hour * 60 + closes.minute)
            )
    return int(inside.sum())


def test_business_minutes_match_the_seeds_mark_by_mark(demo_db, tickets) -> None:
    hours, holidays = business_schedule()
    built = (
        demo_db.execute(
            "select ticket_id, first_reply_business_minutes, full_resolution_business_minutes "
            "from marts.fct_support_tickets"
        )
        .df()
        .set_index("ticket_id")
        .fillna(-1)
    )
    expected = pd.DataFrame(
        {
            "first_reply_business_minutes": [
                business_marks(t.created_at, t.first_reply_at, hours, holidays) for t in tickets.itertuples()
            ],
            "full_resolution_business_minutes": [
                business_marks(t.created_at, t.last_solved_at, hours, holidays) for t in tickets.itertuples()
            ],
        },
        index=tickets.index,
    )
    pd.testing.assert_frame_equal(built.loc[expected.index], expected, check_dtype=False, check_names=False)
    # the demo year has the seed's holidays, and most tickets wait through closed hours
    first, last = tickets.created_at.min().date(), tickets.created_at.max().date()
    assert sum(first <= day <= last for day in holidays) >= 8
    assert (expected.full_resolution_business_minutes < tickets.full_resolution_minutes).mean() > 0.5


def test_sla_attainment_follows_the_seed_targets(mart, demo_db) -> None:
    targets = pd.read_csv(SEEDS / "support_sla_targets.csv").set_index("priority")
    per_ticket = demo_db.execute(
        "select priority, first_reply_minutes, first_reply_business_minutes, first_reply_at, "
        "is_first_reply_sla_breached from marts.fct_support_tickets "
        "where not is_outbound and first_reply_at is not null"
    ).df()
    target = per_ticket.priority.map(targets.first_reply_target_minutes)
    business = per_ticket.priority.map(targets.sla_hours_type) == "business"
    measured = per_ticket.first_reply_business_minutes.where(business, per_ticket.first_reply_minutes)
    breached = measured > target
    assert per_ticket.is_first_reply_sla_breached.tolist() == breached.tolist()
    months = all_rows(mart, "month")
    assert months.first_reply_sla_breached.sum() == breached.sum()
    assert months.first_reply_sla_achieved.sum() == (~breached).sum()
