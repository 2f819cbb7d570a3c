"""Web engagement on a year of demo data: sessions, engagement and channels checked against the files.

Everything expected is recomputed here from the web events extract with pandas: our own
sessionisation (a gap strictly longer than 30 minutes starts a session), our own engagement rule
(longer than 10 s, a purchase or sign-up, or 2+ page views) and a hand-made table of the demo's
traffic sources, never read back from the warehouse.
"""

from __future__ import annotations

import math
from fractions import Fraction

import duckdb
import pandas as pd
import pytest

GAP = pd.Timedelta(minutes=30)
# The demo's landing tags (ingestion/demo/vocab.py LANDINGS), keyed by (referrer, utm_source,
# utm_medium), and the GA4 default channel each belongs to.
DEMO_CHANNELS: dict[tuple[str | None, str | None, str | None], str] = {
    (None, None, None): "Direct",
    ("https://www.google.com/", None, None): "Organic Search",
    ("https://www.bing.com/", None, None): "Organic Search",
    ("https://duckduckgo.com/", None, None): "Organic Search",
    ("https://www.google.com/", "google", "cpc"): "Paid Search",
    ("https://www.bing.com/", "bing", "cpc"): "Paid Search",
    ("https://www.facebook.com/", "facebook", "paid_social"): "Paid Social",
    ("https://www.instagram.com/", "instagram", "paid_social"): "Paid Social",
    ("https://www.facebook.com/", None, None): "Organic Social",
    ("https://t.co/", None, None): "Organic Social",
    ("https://www.linkedin.com/", None, None): "Organic Social",
    (None, "newsletter", "email"): "Email",
    ("https://www.g2.com/", None, None): "Referral",
    ("https://news.ycombinator.com/", None, None): "Referral",
    ("https://blog.partnerhub.com/best-cx-tools", "partnerhub", "referral"): "Referral",
}
ADDITIVE = ("sessions", "engaged_sessions", "converted_sessions", "cart_sessions", "abandoned_cart_sessions")


def sessionise(events: pd.DataFrame) -> pd.DataFrame:
    """Events with a session number: a new one after a gap strictly longer than 30 minutes."""
    events = events.drop_duplicates("event_id", keep="last").copy()
    events["at"] = pd.to_datetime(events.occurred_at, utc=True, format="ISO8601")
    events = events.sort_values(["visitor_id", "at", "event_id"], ignore_index=True)
    gap = events.groupby("visitor_id").at.diff()
    events["session"] = (gap.isna() | (gap > GAP)).cumsum()
    return events


def summarise(events: pd.DataFrame, crm_ids: set[str]) -> pd.DataFrame:
    """One row per session with our own engagement, conversion, cart and channel rules."""
    name = events.event_name
    flags = events.assign(
        page_view=name == "page_view",
        converted=name.isin(["purchase", "sign_up"]),
        cart=name.isin(["add_to_cart", "begin_checkout"]),
        purchase=name == "purchase",
    )
    sessions = flags.groupby("session").agg(
        visitor_id=("visitor_id", "first"),
        started=("at", "min"),
        ended=("at", "max"),
        page_views=("page_view", "sum"),
        converted=("converted", "any"),
        cart=("cart", "any"),
        purchase=("purchase", "any"),
        revenue=("revenue", "sum"),
        device=("device", "first"),
        referrer=("referrer", "first"),
        utm_source=("utm_source", "first"),
        utm_medium=("utm_medium", "first"),
    )
    seconds = (sessions.ended - sessions.started).dt.total_seconds()
    sessions["engaged"] = (seconds > 10) | sessions.converted | (sessions.page_views >= 2)
    sessions["abandoned"] = sessions.cart & ~sessions.purchase
    tags = sessions[["referrer", "utm_source", "utm_medium"]].astype(object)
    sessions["channel"] = [
        DEMO_CHANNELS[key] for key in tags.where(tags.notna(), None).itertuples(index=False)
    ]
    # A visitor belongs to the customer of its first event carrying a customer id, if the CRM knows it.
    known = events.dropna(subset=["customer_id"]).drop_duplicates("visitor_id")
    owner = known.set_index("visitor_id").customer_id
    sessions["identified"] = sessions.visitor_id.map(owner).isin(crm_ids)
    sessions["logged_in"] = events.groupby("session").customer_id.count() > 0
    return sessions


@pytest.fixture(scope="module")
def sessions(demo_files: dict[str, pd.DataFrame]) -> pd.DataFrame:
    crm_ids = set(demo_files["crm.customers"].customer_id)
    return summarise(sessionise(demo_files["web.events"]), crm_ids)


def mart_row(db: duckdb.DuckDBPyConnection, device: str) -> dict[str, object]:
    cursor = db.execute(
        "select * from marts.mart_web_engagement "
        "where period_type = 'all' and channel_group = 'all' and device = ?",
        [device],
    )
    names = [column[0] for column in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


def share(part: int, whole: int) -> float:
    """part / whole rounded half up to four decimals, as SQL's round does."""
    return math.floor(Fraction(int(part), int(whole)) * 10**4 + Fraction(1, 2)) / 10**4


@pytest.mark.parametrize("device", ["all", "mobile"])
def test_engagement_matches_our_own_sessionisation(demo_db, sessions, device) -> None:
    cell = sessions if device == "all" else sessions[sessions.device == device]
    row = mart_row(demo_db, device)
    carts = int(cell.cart.sum())
    assert row["sessions"] == len(cell)
    assert row["visitors"] == cell.visitor_id.nunique()
    assert row["engaged_sessions"] == cell.engaged.sum()
    assert row["engagement_rate"] == pytest.approx(share(cell.engaged.sum(), len(cell)), abs=1e-9)
    assert row["bounce_rate"] == pytest.approx(share((~cell.engaged).sum(), len(cell)), abs=1e-9)
    assert row["converted_sessions"] == cell.converted.sum()
    assert row["conversion_rate"] == pytest.approx(share(cell.converted.sum(), len(cell)), abs=1e-9)
    assert row["cart_sessions"] == carts
    assert row["cart_abandonment_rate"] == pytest.approx(share(cell.abandoned.sum(), carts), abs=1e-9)
    assert row["identified_sessions"] == cell.identified.sum()


def test_anonymous_sessions_of_identified_visitors_count_as_identified(demo_db, sessions) -> None:
    before_login = int((sessions.identified & ~sessions.logged_in).sum())
    assert before_login > 0  # the demo's visits before a sign-up or login on another device
    got = demo_db.execute(
        "select count(*) from marts.fct_web_sessions where is_identified and not is_logged_in"
    ).fetchone()[0]
    assert got == before_login


def test_every_session_gets_its_channel_group(demo_db, sessions) -> None:
    expected = sessions.channel.value_counts().to_dict()
    got = dict(
        demo_db.execute(
            "select channel_group, sessions from marts.mart_web_engagement "
            "where period_type = 'all' and device = 'all' and channel_group <> 'all'"
        ).fetchall()
    )
    assert got == expected
    assert "Unassigned" not in got


@pytest.mark.parametrize("period_type", ["day", "month", "all"])
@pytest.mark.parametrize("dimension", ["channel_group", "device"])
def test_totals_add_up_across_each_dimension(demo_db, period_type, dimension) -> None:
    other = "device" if dimension == "channel_group" else "channel_group"
    sums = ", ".join(
        f"sum({m}) filter (where {dimension} <> 'all') = max({m}) filter (where {dimension} = 'all')"
        for m in ADDITIVE
    )
    rows = demo_db.execute(
        f"""
        select period_start, {sums}
        from marts.mart_web_engagement
        where period_type = ? and {other} = 'all'
        group by period_start
        """,
        [period_type],
    ).fetchall()
    assert rows
    assert all(all(checks) for _, *checks in rows)


def test_days_and_months_add_up_to_the_whole_history(demo_db, sessions) -> None:
    totals = demo_db.execute(
        f"""
        select period_type, {", ".join(f"sum({m})" for m in ADDITIVE)}, sum(revenue)
        from marts.mart_web_engagement
        where channel_group = 'all' and device = 'all'
        group by period_type
        """
    ).fetchall()
    by_period = {period: tuple(values) for period, *values in totals}
    assert by_period["day"] == by_period["month"] == by_period["all"]
    assert by_period["all"][0] == len(sessions)
    assert float(by_period["all"][-1]) == pytest.approx(round(sessions.revenue.sum(), 2), abs=1e-6)
