"""Each customer's life month by month: billing, churn, plan changes, add-ons, tickets and surveys.

Everything a customer experiences reads and moves one latent number, their satisfaction. That is
how the planted truths come about: bad tickets lower it, surveys report it, churn follows it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from ingestion.demo import vocab
from ingestion.demo.params import DAY, HOUR, MINUTE, Params, Period, add_months
from ingestion.demo.people import Customers, ascii_slug, email_variant
from ingestion.demo.support import Ticket, add_csat_rating, rating_time, simulate_ticket
from ingestion.demo.surveys import Invitation, Response, finish, score


@dataclass
class Order:
    customer: int
    at: int
    order_type: str
    plan: int | None
    quantity: int | None
    amount: float
    addon: int | None = None  # index into vocab.ADDONS for one-off purchases


@dataclass
class CustomerVersion:
    customer: int
    at: int
    plan: int
    birth_year: int | None


@dataclass
class World:
    """Everything the simulation produced, before ids are assigned and files are written."""

    customers: Customers
    churned_at: np.ndarray  # epoch seconds of the cancellation; period end for customers who stayed
    versions: list[CustomerVersion] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    tickets: list[Ticket] = field(default_factory=list)
    invitations: list[Invitation] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)


def simulate(r: random.Random, params: Params, period: Period, customers: Customers, progress: bool) -> World:
    world = World(customers, np.full(len(customers), period.end, dtype=np.int64))
    for i in tqdm(range(len(customers)), desc="simulating customers", unit="customer", disable=not progress):
        _Life(r, params, period, world, i).run()
    _prospect_tickets(r, params, period, world)
    return world


def poisson(r: random.Random, mean: float) -> int:
    """Knuth's method; fine for the small means used here."""
    limit, k, p = math.exp(-mean), 0, r.random()
    while p > limit:
        k += 1
        p *= r.random()
    return k


class _Life:
    def __init__(self, r: random.Random, params: Params, period: Period, world: World, i: int) -> None:
        self.r, self.params, self.period, self.world, self.i = r, params, period, world, i
        c = world.customers
        self.signup = int(c.signup_at[i])
        self.plan = int(c.plan[i])
        self.birth_year = c.birth_year[i]
        self.utc_offset = vocab.REGION_UTC_OFFSET[c.region[i]] * HOUR
        self.base_satisfaction = float(c.satisfaction[i])
        self.shocks: list[tuple[int, float]] = []  # (from when, change) to satisfaction
        self.pending: list[Response] = []  # scored at the end, once every shock is known
        self.ratings: list[tuple[Ticket, float]] = []  # help-desk CSAT ratings to score, with penalty
        self.last_purchase = self.signup
        self.next_nps = self.signup + r.randint(*params.nps_first_days) * DAY

    def satisfaction(self, t: int) -> float:
        return self.base_satisfaction + sum(change for at, change in self.shocks if at <= t)

    def run(self) -> None:
        self._order(self.signup, "new")
        self._version(self.signup)
        month_start, month = self.signup, 0
        while True:
            renewal = add_months(self.signup, month + 1)
            if month:
                self.shocks.append((month_start, self.r.gauss(0, self.params.sat_drift_sd)))
            churn_at = self._churn_time(month_start, renewal)
            horizon = min(renewal, churn_at or self.period.end, self.period.end)
            for at, _, handler in sorted(self._happenings(month, month_start, renewal, horizon)):
                handler(at)
            if churn_at is not None and churn_at < self.period.end:
                self._order(churn_at, "cancel")
                self.world.churned_at[self.i] = churn_at
                break
            if renewal >= self.period.end:
                break
            self._order(renewal, "renewal")
            month_start, month = renewal, month + 1
        self._score_feedback()

    def _churn_time(self, month_start: int, renewal: int) -> int | None:
        """Planted truths (b) and (e): churn falls with satisfaction and with a dearer plan."""
        p = self.params
        hazard = p.churn_base[self.plan] * math.exp(-p.churn_sat_beta * self.satisfaction(month_start))
        if self.r.random() >= min(p.churn_cap, hazard):
            return None
        return month_start + int(self.r.random() * (renewal - month_start))

    def _happenings(
        self, month: int, start: int, renewal: int, horizon: int
    ) -> Iterable[tuple[int, int, Callable[[int], None]]]:
        """What happens in this billing month before `horizon`, as (time, tie-break, handler)."""
        p, r = self.params, self.r
        share = (horizon - start) / (renewal - start)
        events: list[tuple[int, Callable[[int], None]]] = []
        rate = p.tickets_first_month if month == 0 else p.tickets_per_month
        events += [(self._awake(start, horizon), self._ticket) for _ in range(poisson(r, rate * share))]
        if r.random() < p.one_off_per_month * share:
            events.append((self._awake(max(start, self.last_purchase + DAY), horizon), self._one_off))
        if month and r.random() < p.upgrade_per_month * math.exp(0.4 * self.satisfaction(start)) * share:
            events.append((self._awake(start, horizon), self._upgrade))
        elif month and r.random() < p.downgrade_per_month * math.exp(-0.4 * self.satisfaction(start)) * share:
            events.append((self._awake(start, horizon), self._downgrade))
        if self.birth_year is None and r.random() < 0.03:  # a few fill in their profile later
            events.append((self._awake(start, horizon), self._complete_profile))
        while self.next_nps < horizon:  # relationship NPS roughly every quarter
            events.append((self._local_time(self.next_nps, 9, 11), self._relationship_nps))
            self.next_nps += (p.nps_every_days + r.randint(-10, 10)) * DAY
        if month == 0 and r.random() < p.onboarding_ces_share:
            events.append((self.signup + r.randint(5, 10) * DAY, self._onboarding_ces))
        if r.random() < p.website_anonymous_per_month * share:
            events.append((self._awake(start, horizon), self._website_anonymous))
        if r.random() < p.website_open_per_month * share:
            events.append((self._awake(start, horizon), self._website_open))
        return [(at, n, handler) for n, (at, handler) in enumerate(events) if start <= at < horizon]

    # --- time helpers -------------------------------------------------------------------------
    def _awake(self, start: int, end: int) -> int:
        """A random moment in [start, end) moved out of the customer's local night (00-07h)."""
        t = start + int(self.r.random() * max(1, end - start))
        local_hour = (t + self.utc_offset) // HOUR % 24
        return t + (7 - local_hour) * HOUR + self.r.randrange(HOUR) if local_hour < 7 else t

    def _local_time(self, t: int, first_hour: int, last_hour: int) -> int:
        """Time on t's local day between two local hours: batch sends happen in the morning."""
        local_midnight = (t + self.utc_offset) // DAY * DAY - self.utc_offset
        return local_midnight + self.r.randrange(first_hour * HOUR, last_hour * HOUR)

    # --- CRM ----------------------------------------------------------------------------------
    def _order(self, at: int, order_type: str, addon: int | None = None, quantity: int = 1) -> int:
        if order_type == "cancel":
            order = Order(self.i, at, order_type, self.plan, None, 0.0)
        elif addon is not None:
            order = Order(self.i, at, order_type, None, quantity, vocab.ADDONS[addon][1] * quantity, addon)
        else:
            order = Order(self.i, at, order_type, self.plan, 1, vocab.PLAN_PRICES[self.plan])
        self.world.orders.append(order)
        return len(self.world.orders) - 1

    def _version(self, at: int) -> None:
        self.world.versions.append(CustomerVersion(self.i, at, self.plan, self.birth_year))

    def _upgrade(self, at: int) -> None:
        if self.plan < len(vocab.PLANS) - 1:
            self._change_plan(at, self.plan + 1, "upgrade")

    def _downgrade(self, at: int) -> None:
        if self.plan > 0:
            self._change_plan(at, self.plan - 1, "downgrade")

    def _change_plan(self, at: int, plan: int, order_type: str) -> None:
        self.plan = plan
        self._order(at, order_type)
        self._version(at)

    def _complete_profile(self, at: int) -> None:
        self.birth_year = min(2006, max(1940, 1986 + round(self.r.gauss(0, 12))))
        self._version(at)

    def _one_off(self, at: int) -> None:
        addon = self.r.randrange(len(vocab.ADDONS))
        ref = self._order(at, "one_off", addon, self.r.choices((1, 2, 3), (0.75, 0.18, 0.07))[0])
        self.last_purchase = at
        if self.r.random() < self.params.checkout_ces_share:
            sent = at + self.r.randint(30 * MINUTE, 2 * HOUR)
            self._invite("CES", "checkout", sent, ("order", ref), channel=self.r.choice(("email", "in_app")))

    # --- support ------------------------------------------------------------------------------
    def _ticket(self, at: int) -> None:
        if at >= self.period.support_end:
            return  # its local day is after the help desk's last export
        p, r, c = self.params, self.r, self.world.customers
        email = c.email[self.i]
        if r.random() < p.email_variant_share:
            email = email_variant(email, r)  # planted truth (c)
        ticket = simulate_ticket(r, p, at, r.choice(vocab.TICKET_TOPICS), c.first_name[self.i], self.i, email)
        self.world.tickets.append(ticket)
        slow, reopened = ticket.is_slow(p), ticket.reopened_at is not None
        # Planted truth (a): a slow first reply or a reopen leaves the customer less satisfied.
        if slow:
            self.shocks.append((ticket.first_reply_at, p.slow_reply_sat_shock))
        if reopened:
            self.shocks.append((ticket.reopened_at or at, p.reopen_sat_shock))
        if not slow and not reopened and ticket.first_reply_at - at < 4 * HOUR:
            self.shocks.append((ticket.solved_at, p.smooth_ticket_sat_shock))
        penalty = p.slow_reply_csat_penalty * slow + p.reopen_csat_penalty * reopened
        if r.random() < p.helpdesk_csat_share:
            self.ratings.append((ticket, penalty))
        if ticket.customer_id_known and r.random() < p.ticket_csat_share:
            sent = ticket.solved_at + r.randint(10 * MINUTE, 2 * HOUR)
            ref = len(self.world.tickets) - 1
            hint = "speed" if slow else "support"
            self._invite("CSAT", "support_ticket", sent, ("ticket", ref), "email", penalty, hint)

    # --- surveys ------------------------------------------------------------------------------
    def _invite(
        self,
        survey_type: str,
        touchpoint: str,
        sent_at: int,
        related: tuple[str, int] | None,
        channel: str,
        penalty: float = 0.0,
        theme_hint: str | None = None,
    ) -> None:
        invitations = self.world.invitations
        invitations.append(Invitation(survey_type, touchpoint, channel, self.i, related, sent_at))
        if self.r.random() < self.params.response_rate(survey_type):
            answered = sent_at + max(5 * MINUTE, int(5 * HOUR * math.exp(1.3 * self.r.gauss(0, 1))))
            self.pending.append(
                Response(
                    invitation=len(invitations) - 1,
                    survey_type=survey_type,
                    touchpoint=touchpoint,
                    responded_at=answered,
                    is_anonymous=False,
                    penalty=penalty,
                    theme_hint=theme_hint,
                )
            )

    def _relationship_nps(self, at: int) -> None:
        self._invite(
            "NPS", "relationship", at, None, self.r.choices(("email", "in_app", "sms"), (70, 25, 5))[0]
        )

    def _onboarding_ces(self, at: int) -> None:
        self._invite("CES", "onboarding", at, None, self.r.choice(("in_app", "in_app", "email")))

    def _website_anonymous(self, at: int) -> None:
        self.pending.append(Response(None, "NPS", "website", at, is_anonymous=True))

    def _website_open(self, at: int) -> None:
        c, r = self.world.customers, self.r
        email = c.email[self.i]
        if r.random() < 0.15:  # a private address the CRM does not know
            first, _, last = c.full_name[self.i].partition(" ")
            email = f"{ascii_slug(first)}.{ascii_slug(last)}.private@gmail.com"
        elif r.random() < self.params.email_variant_share:
            email = email_variant(email, r)  # planted truth (c)
        self.pending.append(Response(None, "NPS", "website", at, is_anonymous=False, respondent_email=email))

    def _score_feedback(self) -> None:
        for response in self.pending:
            finish(self.r, self.params, response, self.satisfaction(response.responded_at))
        self.world.responses += self.pending
        for ticket, penalty in self.ratings:
            at = rating_time(self.r, ticket)
            add_csat_rating(ticket, at, score(self.r, self.params, "CSAT", self.satisfaction(at), penalty))


def _prospect_tickets(r: random.Random, params: Params, period: Period, world: World) -> None:
    """Pre-sales questions from people who are not customers: email only, never linked."""
    count = round(params.prospect_tickets_per_customer * len(world.customers) * period.days / 365)
    for _ in range(count):
        region = r.randrange(len(vocab.REGIONS))
        first, last = r.choice(vocab.FIRST_NAMES[region]), r.choice(vocab.LAST_NAMES[region])
        domain = r.choice(("gmail.com", "outlook.com"))
        email = (
            f"{ascii_slug(first)}.{ascii_slug(last)}.{r.randint(100, 999)}@{domain}"  # never a CRM pattern
        )
        at = period.start + int(r.random() * (period.support_end - period.start))
        world.tickets.append(
            simulate_ticket(r, params, at, r.choice(vocab.PROSPECT_TOPICS), first, None, email)
        )
