"""The demo generator: deterministic, true to the extract contracts, and carrying its planted truths.

The truths are measured here straight from the files with pandas, not through the warehouse, so a
mart that later finds (or misses) them can be judged against data known to contain them.
"""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from ingestion.contracts import ENTITIES, FILE_NAME
from ingestion.demo import Params, generate

SMALL = {"customers": 200, "days": 60, "seed": 11, "start": date(2025, 3, 1), "progress": False}


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    generate(tmp_path / "a", **SMALL)
    generate(tmp_path / "b", **SMALL)
    generate(tmp_path / "c", **{**SMALL, "seed": 12})
    a, b, c = digest(tmp_path / "a"), digest(tmp_path / "b"), digest(tmp_path / "c")
    assert len(a) > 7 * 30  # every entity has files on most days
    assert a == b
    assert a != c


def test_regenerating_into_a_folder_replaces_the_earlier_days(tmp_path: Path) -> None:
    generate(tmp_path, **SMALL)
    generate(tmp_path, **{**SMALL, "days": 20})
    dates = {FILE_NAME.match(p.name)["extract_date"] for p in tmp_path.rglob("*.*")}
    assert max(dates) < "2025-03-21"


def test_files_follow_the_extract_contracts(tmp_path: Path) -> None:
    generate(tmp_path, **SMALL)
    for entity in ENTITIES:
        files = sorted(entity.folder(tmp_path).iterdir())
        assert files, entity.qualified_name
        for path in files:
            match = FILE_NAME.match(path.name)
            assert match and match["entity"] == entity.name, path
            assert match["fmt"] in entity.formats
            with path.open(encoding="utf-8", newline="") as f:
                if match["fmt"] == "csv":
                    assert tuple(next(csv.reader(f))) == entity.column_names, path
                else:
                    assert tuple(json.loads(f.readline())) == entity.column_names, path


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """A year of 4,000 customers, each entity read into one frame of strings."""
    root = tmp_path_factory.mktemp("demo")
    generate(root, customers=4000, days=365, seed=3, progress=False)
    frames = {}
    for entity in ENTITIES:
        parts = []
        for path in sorted(entity.folder(root).iterdir()):
            if path.suffix == ".csv":
                parts.append(pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""]))
            else:
                parts.append(pd.read_json(path, lines=True, dtype=False))
        frames[entity.qualified_name] = pd.concat(parts, ignore_index=True)
    return frames


def latest(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    return frame.sort_values("updated_at").drop_duplicates(key, keep="last")


def churned(year: dict[str, pd.DataFrame]) -> pd.Series:
    """Customer id -> whether a cancel order exists (the subscription ended in the year)."""
    customers = latest(year["crm.customers"], "customer_id")
    orders = year["crm.orders"]
    cancelled = set(orders.loc[orders.order_type == "cancel", "customer_id"])
    return customers.set_index("customer_id").index.to_series().isin(cancelled)


def outbound_tickets(year: dict[str, pd.DataFrame]) -> set[str]:
    """Tickets the company opened (created by an agent): the CX team's follow-ups, truth (h)."""
    events = year["support.ticket_events"]
    return set(events.ticket_id[(events.event_type == "created") & (events.author_type == "agent")])


def ticket_experience(year: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per ticket a customer opened: hours to the first public agent reply, reopened or not, its CSAT."""
    events = year["support.ticket_events"].copy()
    events["at"] = pd.to_datetime(events.occurred_at, utc=True, format="ISO8601")
    tickets = latest(year["support.tickets"], "ticket_id").set_index("ticket_id")
    tickets = tickets[~tickets.index.isin(outbound_tickets(year))]
    created = pd.to_datetime(tickets.created_at, utc=True, format="ISO8601")
    replies = events[(events.event_type == "agent_reply") & (events.is_public == "true")]
    first_reply = replies.groupby("ticket_id").at.min()
    out = pd.DataFrame({"customer_id": tickets.customer_id})
    out["reply_hours"] = (first_reply.reindex(out.index) - created).dt.total_seconds() / 3600
    out["reopened"] = out.index.isin(events.loc[events.event_type == "reopened", "ticket_id"])
    ratings = events[events.event_type == "csat_rated"].groupby("ticket_id").csat_score.last()
    out["csat"] = pd.to_numeric(ratings.reindex(out.index))
    return out


def test_slow_or_reopened_tickets_get_lower_csat(year: dict[str, pd.DataFrame]) -> None:
    t = ticket_experience(year).dropna(subset=["reply_hours", "csat"])
    bad = t[(t.reply_hours > Params().slow_reply_hours) | t.reopened]
    good = t[(t.reply_hours < 4) & ~t.reopened]
    assert len(bad) > 100 and len(good) > 300
    # The planted penalty is 1.0-1.3 points on a 1-5 scale: a gap of at least half a point.
    assert bad.csat.mean() < good.csat.mean() - 0.5


def test_customers_after_a_bad_ticket_churn_more(year: dict[str, pd.DataFrame]) -> None:
    t = ticket_experience(year).dropna(subset=["customer_id", "reply_hours"])
    bad_customers = set(t.loc[(t.reply_hours > Params().slow_reply_hours) | t.reopened, "customer_id"])
    ticket_customers = set(t.customer_id)
    is_churned = churned(year)
    bad = is_churned[is_churned.index.isin(bad_customers)]
    fine = is_churned[is_churned.index.isin(ticket_customers - bad_customers)]
    assert len(bad) > 100 and len(fine) > 300
    assert bad.mean() > fine.mean() * 1.2


def test_detractors_churn_more_than_promoters(year: dict[str, pd.DataFrame]) -> None:
    responses, invitations = year["surveys.responses"], year["surveys.invitations"]
    nps = responses[(responses.survey_type == "NPS") & (responses.touchpoint == "relationship")]
    nps = nps.merge(invitations[["invitation_id", "customer_id"]], on="invitation_id")
    first = nps.sort_values("responded_at").drop_duplicates("customer_id").set_index("customer_id")
    score = pd.to_numeric(first.score)
    is_churned = churned(year)
    detractors = is_churned.reindex(score.index[score <= 6])
    promoters = is_churned.reindex(score.index[score >= 9])
    assert len(detractors) > 100 and len(promoters) > 100
    assert detractors.mean() > promoters.mean() * 1.5


def test_premium_churns_less_than_basic(year: dict[str, pd.DataFrame]) -> None:
    customers = latest(year["crm.customers"], "customer_id").set_index("customer_id")
    first_plan = year["crm.customers"].sort_values("updated_at").drop_duplicates("customer_id")
    plan = first_plan.set_index("customer_id").plan
    is_churned = churned(year).reindex(customers.index)
    assert is_churned[plan == "premium"].mean() < is_churned[plan == "basic"].mean() / 2


def test_some_emails_differ_between_systems_only_by_case_or_whitespace(
    year: dict[str, pd.DataFrame],
) -> None:
    crm = latest(year["crm.customers"], "customer_id")
    crm_emails = set(crm.email)
    normalised = {e.strip().lower() for e in crm_emails}
    requesters = year["support.tickets"].drop_duplicates("ticket_id").requester_email.dropna()
    exact = requesters.isin(crm_emails)
    variant = ~exact & requesters.str.strip().str.lower().isin(normalised)
    share = variant.sum() / (exact.sum() + variant.sum())
    assert 0.05 < share < 0.15  # planted at 10%
    assert (requesters[variant] != requesters[variant].str.strip()).any()  # stray spaces, too


def test_a_few_crm_accounts_share_one_email(year: dict[str, pd.DataFrame]) -> None:
    crm = latest(year["crm.customers"], "customer_id")
    per_email = crm.groupby(crm.email.str.strip().str.lower()).customer_id.nunique()
    # 0.5% of 4,000 customers -> 20 planted pairs; names are built to be unique otherwise.
    assert (per_email == 2).sum() == 20
    assert (per_email > 2).sum() == 0


def test_web_visitors_are_anonymous_first_and_identified_later(year: dict[str, pd.DataFrame]) -> None:
    events = year["web.events"]
    per_visitor = events.groupby("visitor_id").agg(
        known=("customer_id", lambda s: s.notna().any()),
        customers=("customer_id", "nunique"),
    )
    assert per_visitor.customers.max() == 1  # a device is never two customers
    assert 0.2 < per_visitor.known.mean() < 0.95  # some identified, some never
    known = events[events.visitor_id.isin(per_visitor.index[per_visitor.known])]
    anonymous_before = known.groupby("visitor_id").customer_id.apply(lambda s: s.isna().iloc[0])
    assert anonymous_before.any()
    devices = events.dropna(subset=["customer_id"]).groupby("customer_id").visitor_id.nunique()
    assert (devices > 1).mean() > 0.2  # several devices per customer


def test_the_cx_team_follows_up_low_scores_with_outbound_tickets(year: dict[str, pd.DataFrame]) -> None:
    params = Params()
    events = year["support.ticket_events"].copy()
    events["at"] = pd.to_datetime(events.occurred_at, utc=True, format="ISO8601")
    outbound = outbound_tickets(year)
    tickets = latest(year["support.tickets"], "ticket_id").set_index("ticket_id").loc[sorted(outbound)]
    assert len(tickets) > 200
    assert set(tickets.channel) == {"phone", "email"}
    assert tickets.customer_id.notna().all()  # the team knows whom it calls
    ours = events[events.ticket_id.isin(outbound)]
    replied = ours[(ours.event_type == "agent_reply") & (ours.is_public == "true")].ticket_id
    solved = ours[ours.event_type == "solved"].groupby("ticket_id").at.max()
    created = ours[ours.event_type == "created"].set_index("ticket_id")["at"]
    assert set(replied) == outbound
    assert (solved > created.reindex(solved.index)).all()

    # Each invited response against the customer's next outbound ticket within 30 days.
    responses = year["surveys.responses"]
    invited = responses.merge(
        year["surveys.invitations"][["invitation_id", "customer_id"]], on="invitation_id"
    )
    invited = invited.assign(
        at=pd.to_datetime(invited.responded_at, utc=True, format="ISO8601"),
        score=pd.to_numeric(invited.score),
    )
    calls = pd.DataFrame({"customer_id": tickets.customer_id, "called": created.reindex(tickets.index)})
    pairs = invited.merge(calls, on="customer_id")
    pairs = pairs[(pairs.called > pairs["at"]) & (pairs.called <= pairs["at"] + pd.Timedelta(days=30))]
    delay = pairs.groupby("response_id").called.min().sub(invited.set_index("response_id")["at"]).dropna()
    nps = invited.survey_type == "NPS"
    low = invited.response_id[(nps & (invited.score <= 6)) | (~nps & (invited.score <= 2))]
    passive = invited.response_id[nps & invited.score.between(7, 8)]
    promoter = invited.response_id[nps & (invited.score >= 9)]

    def followed(ids: pd.Series) -> float:
        return ids.isin(delay.index).mean()

    # Planted at 70% / 30%; other responses of the same customer blur it a little upwards.
    assert followed(low) == pytest.approx(params.follow_up_share_low, abs=0.08)
    assert followed(passive) == pytest.approx(params.follow_up_share_passive, abs=0.08)
    assert followed(promoter) < 0.15
    hours = delay[delay.index.isin(low)].dt.total_seconds() / 3600
    assert 10 < hours.median() < 40  # lognormal around 20 h, moved into working hours
    assert 0.1 < (hours > 48).mean() < 0.5  # some later than a 48-hour SLA
