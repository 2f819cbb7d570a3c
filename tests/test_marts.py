"""The customer model on a year of demo data: numbers checked against the extract files.

Expected values are computed here from the files with pandas and the definitions in DOMAIN.md,
never read back from the warehouse; the planted truths of docs/demo-data.md must show in the marts.
"""

from __future__ import annotations

import hashlib
import json
import math
from fractions import Fraction

import dagster as dg
import duckdb
import pandas as pd
import pytest

from ingestion.settings import DBT_PROJECT_DIR, Paths

Night = tuple[Paths, dg.ExecuteInProcessResult]


@pytest.fixture
def files(demo_files: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return demo_files


@pytest.fixture
def db(demo_db: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    return demo_db


def half_up(value: Fraction, digits: int = 1) -> float:
    """Round half away from zero, as reports (and SQL's round) do; Python's round() goes to even."""
    scaled = value * 10**digits
    return (
        float(math.floor(scaled + Fraction(1, 2)) / 10**digits) if scaled >= 0 else -half_up(-value, digits)
    )


def latest(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    return frame.sort_values("updated_at").drop_duplicates(key, keep="last")


def normalise(emails: pd.Series) -> pd.Series:
    return emails.str.strip().str.lower()


def test_every_customer_is_one_row_with_a_lifecycle_stage(db, files) -> None:
    customers = latest(files["crm.customers"], "customer_id")
    stages = dict(
        db.execute("select lifecycle_stage, count(*) from marts.dim_customers group by 1").fetchall()
    )
    assert sum(stages.values()) == len(customers)
    cancelled = set(files["crm.orders"].query("order_type == 'cancel'").customer_id)
    # The demo never reactivates: churned customers are exactly those with a cancel order.
    assert stages.get("churned", 0) == len(cancelled)
    assert set(stages) <= {"new", "active", "at_risk", "churned", "lapsed", "prospect"}
    assert {"new", "active", "at_risk", "churned"} <= set(stages)


def test_churn_months_chain_and_end_with_the_active_customers(db, files) -> None:
    months = db.execute(
        "select customers_at_start, new_customers, lost_customers, customers_at_end "
        "from marts.mart_churn_monthly where segment_type = 'all' order by month_start"
    ).fetchall()
    assert len(months) == 12
    for (start, new, lost, end), following in zip(months, [*months[1:], None], strict=True):
        assert start + new - lost == end
        if following:
            assert following[0] == end  # the end of one month is the start of the next
    customers = set(files["crm.customers"].customer_id)
    cancelled = set(files["crm.orders"].query("order_type == 'cancel'").customer_id)
    assert months[-1][3] == len(customers - cancelled)
    assert sum(m[1] for m in months) == len(customers)  # everyone subscribed once in the year


def test_churn_rate_follows_the_definition(db) -> None:
    rows = db.execute(
        "select customers_at_start, new_customers, customers_at_end, churn_rate_pct, retention_rate_pct "
        "from marts.mart_churn_monthly where customers_at_start > 0"
    ).fetchall()
    for start, new, end, churn, retention in rows:
        assert churn == pytest.approx(half_up(Fraction(100 * (start + new - end), start)))
        assert retention == pytest.approx(half_up(Fraction(100 * (end - new), start)))


def test_overall_scores_match_the_response_files(db, files) -> None:
    responses = files["surveys.responses"].drop_duplicates("response_id")
    scores = pd.to_numeric(responses.score)
    nps = scores[responses.survey_type == "NPS"]
    csat = scores[responses.survey_type == "CSAT"]
    ces = scores[responses.survey_type == "CES"]
    expected = {
        "NPS": (len(nps), half_up(Fraction(100 * int((nps >= 9).sum() - (nps <= 6).sum()), len(nps)))),
        "CSAT": (len(csat), half_up(Fraction(100 * int((csat >= 4).sum()), len(csat)), 0)),
        "CES": (len(ces), half_up(Fraction(100 * int((ces >= 4).sum()), len(ces)))),
    }
    got = {
        survey: (responses, score)
        for survey, responses, score in db.execute(
            "select survey_type, responses, score from marts.mart_cx_scores "
            "where totals_over = 'month,touchpoint,channel,customer_segment'"
        ).fetchall()
    }
    assert got == expected


def test_score_totals_add_up_across_each_dimension(db) -> None:
    for dimension in ("touchpoint", "channel", "customer_segment"):
        others = ",".join(d for d in ("month", "touchpoint", "channel", "customer_segment") if d != dimension)
        by_leaf, total = db.execute(
            f"""
            select
                sum(responses) filter (where totals_over = '{others}'),
                sum(responses) filter (where totals_over = 'month,touchpoint,channel,customer_segment')
            from marts.mart_cx_scores
            """
        ).fetchone()
        assert by_leaf == total, dimension


def test_anonymous_responses_count_but_are_never_linked(db, files) -> None:
    responses = files["surveys.responses"].drop_duplicates("response_id")
    anonymous = int((responses.is_anonymous == "true").sum())
    assert anonymous > 0
    linked, counted = db.execute(
        """
        select
            (select count(*) from marts.fct_survey_responses where is_anonymous and customer_id is not null),
            (select sum(responses) from marts.mart_cx_scores
             where customer_segment = 'anonymous' and totals_over = 'month,touchpoint,channel')
        """
    ).fetchone()
    assert linked == 0
    assert counted == anonymous


def test_requesters_resolve_through_normalised_emails(db, files) -> None:
    crm = latest(files["crm.customers"], "customer_id")
    crm_emails = set(normalise(crm.email))
    tickets = latest(files["support.tickets"], "ticket_id")
    unlinked = tickets[tickets.customer_id.isna()]
    by_email = normalise(unlinked.requester_email).isin(crm_emails)
    assert by_email.sum() > 0
    assert (unlinked.requester_email[by_email] != normalise(unlinked.requester_email[by_email])).any()
    rules = dict(
        db.execute(
            "select customer_match_rule, count(*) from marts.fct_support_tickets group by 1"
        ).fetchall()
    )
    assert rules["email"] == by_email.sum()
    assert rules["unmatched"] == (~by_email).sum()
    assert rules["crm_id"] == tickets.customer_id.notna().sum()


def test_shared_emails_are_listed_with_the_newest_account_surviving(db, files) -> None:
    crm = latest(files["crm.customers"], "customer_id").assign(email=lambda f: normalise(f.email))
    shared = crm[crm.duplicated("email", keep=False)]
    survivors = shared.sort_values(["signup_at", "customer_id"], ascending=[False, True]).drop_duplicates(
        "email"
    )
    listed = db.execute(
        "select identifier, resolved_customer_id from marts.mart_identity_conflicts "
        "where conflict_type = 'shared_email'"
    ).fetchall()
    assert len(listed) == round(1200 * 0.005)  # the planted share of duplicate accounts
    hashed = [hashlib.sha256(e.encode()).hexdigest() for e in survivors.email]
    assert dict(listed) == dict(zip(hashed, survivors.customer_id, strict=True))


def test_sessions_split_on_thirty_minutes_of_inactivity(db, files) -> None:
    events = files["web.events"].drop_duplicates("event_id").copy()
    events["at"] = pd.to_datetime(events.occurred_at, utc=True, format="ISO8601")
    events = events.sort_values(["visitor_id", "at", "event_id"])
    gap = events.groupby("visitor_id").at.diff()
    expected = int((gap.isna() | (gap > pd.Timedelta(minutes=30))).sum())
    assert db.execute("select count(*) from marts.fct_web_sessions").fetchone()[0] == expected


def test_touchpoints_cover_every_interaction(db, files) -> None:
    events = files["support.ticket_events"].drop_duplicates("event_id")
    public_replies = ((events.event_type == "agent_reply") & (events.is_public == "true")).sum()
    tickets = files["support.tickets"]
    # tickets the company opened: their creation was written by an agent
    outbound = set(events.query("event_type == 'created' and author_type == 'agent'").ticket_id)
    sessions = db.execute("select count(*) from marts.fct_web_sessions").fetchone()[0]
    expected = {
        "web_session": sessions,
        "order": files["crm.orders"].order_type.isin(["new", "one_off"]).sum(),
        "subscription_change": (~files["crm.orders"].order_type.isin(["new", "one_off"])).sum(),
        "support_ticket": tickets.ticket_id.nunique() - len(outbound),
        "outbound_contact": len(outbound),
        "ticket_reply": public_replies,
        "survey_invitation": files["surveys.invitations"].invitation_id.nunique(),
        "survey_response": files["surveys.responses"].response_id.nunique(),
    }
    got = dict(
        db.execute("select touchpoint_type, count(*) from marts.fct_touchpoints group by 1").fetchall()
    )
    assert got == expected


def test_revenue_movements_sum_to_the_final_recurring_revenue(db) -> None:
    last_month, by_sum, final_mrr = db.execute(
        """
        select
            max(month_start),
            sum(mrr_change),
            (select sum(mrr) from marts.mart_revenue_movements
             where month_start = (select max(month_start) from marts.mart_revenue_movements))
        from marts.mart_revenue_movements
        """
    ).fetchone()
    assert last_month is not None
    assert by_sum == final_mrr


# --- the planted truths, found in the marts -----------------------------------------------------


def churn_share(db, where: str) -> tuple[float, int]:
    share, n = db.execute(
        f"select avg(is_churned::integer), count(*) from marts.dim_customers where {where}"
    ).fetchone()
    return share, n


def test_detractors_churn_more_than_promoters(db) -> None:
    detractors, n_detractors = churn_share(db, "latest_nps_category = 'detractor'")
    promoters, n_promoters = churn_share(db, "latest_nps_category = 'promoter'")
    assert n_detractors > 50 and n_promoters > 50
    assert detractors > 1.5 * promoters


def test_customers_after_a_bad_ticket_churn_more(db) -> None:
    bad, n_bad = churn_share(
        db,
        "customer_id in (select customer_id from marts.fct_support_tickets "
        "where experience_outcome = 'negative' and not is_outbound)",
    )
    fine, n_fine = churn_share(
        db,
        "customer_id in (select customer_id from marts.fct_support_tickets where not is_outbound) "
        "and customer_id not in (select customer_id from marts.fct_support_tickets "
        "where experience_outcome = 'negative' and not is_outbound and customer_id is not null)",
    )
    assert n_bad > 30 and n_fine > 100
    assert bad > 1.2 * fine


def test_premium_churns_less_than_basic(db) -> None:
    rates = dict(
        db.execute(
            "select segment, sum(lost_customers) / sum(customers_at_start) from marts.mart_churn_monthly "
            "where segment_type = 'plan' group by 1"
        ).fetchall()
    )
    assert rates["premium"] < rates["basic"] / 2


def test_slow_tickets_get_lower_csat(db) -> None:
    slow, fast = db.execute(
        """
        select
            avg(csat_score) filter (where is_slow_first_reply or is_reopened),
            avg(csat_score) filter (where not is_slow_first_reply and not is_reopened)
        from marts.fct_support_tickets
        """
    ).fetchone()
    assert slow < fast - 0.5


def test_every_built_column_is_described(demo_night: Night) -> None:
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    described = {
        node["name"]: {name for name, column in node["columns"].items() if column.get("description")}
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node.get("description")
    }
    with duckdb.connect(str(demo_night[0].build_db), read_only=True) as build:
        built = build.execute(
            "select table_name, list(column_name) from duckdb_columns() "
            "where schema_name in ('intermediate', 'marts') group by 1"
        ).fetchall()
    assert len(built) >= 19
    for table, columns in built:
        assert table in described, f"{table} has no description"
        assert set(columns) <= described[table], f"{table}: undocumented {set(columns) - described[table]}"
