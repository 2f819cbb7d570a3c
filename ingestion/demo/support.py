"""One help-desk ticket from creation to close: its event history and how well it went."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from ingestion.demo import vocab
from ingestion.demo.params import DAY, HOUR, MINUTE, Params

AGENTS: tuple[str, ...] = tuple(f"agt_{i:02d}" for i in range(1, 25))
# Median delays by channel: chat and phone are live, email and web forms queue.
FIRST_REPLY_MEDIAN = {"chat": 2 * MINUTE, "phone": 5 * MINUTE, "web": 3 * HOUR, "email": 5 * HOUR}
FOLLOW_UP_MEDIAN = {"chat": 1 * MINUTE, "phone": 10 * MINUTE, "web": 2 * HOUR, "email": 2 * HOUR}
CUSTOMER_REPLY_MEDIAN = {"chat": 90, "phone": 30 * MINUTE, "web": 4 * HOUR, "email": 4 * HOUR}
PRIORITY_SPEED = {"low": 1.4, "normal": 1.0, "high": 0.5, "urgent": 0.25}
# Live channels know who is talking (logged-in chat, caller lookup); emails are often not matched.
LINK_SHARE = {"chat": 0.9, "web": 0.9, "phone": 0.8, "email": 0.55}
AUTO_CLOSE_AFTER = 4 * DAY


@dataclass
class TicketEvent:
    at: int
    event_type: str
    author_type: str | None
    agent_id: str | None
    is_public: bool | None
    status: str
    body: str | None = None
    csat_score: int | None = None


@dataclass
class Ticket:
    customer: int | None  # customer index; None for prospects
    customer_id_known: bool  # the help desk linked the ticket to the CRM account
    requester_email: str | None
    channel: str
    priority: str
    subject: str
    created_at: int
    agent_id: str
    first_reply_at: int = 0
    reopened_at: int | None = None
    solved_at: int = 0  # the final solve
    events: list[TicketEvent] = field(default_factory=list)

    def is_slow(self, params: Params) -> bool:
        return self.first_reply_at - self.created_at > params.slow_reply_hours * HOUR


def lognormal(r: random.Random, median: float, sigma: float = 0.9) -> int:
    return max(1, int(median * math.exp(sigma * r.gauss(0.0, 1.0))))


class _History:
    """Appends events in time order and tracks the status each leaves the ticket in."""

    def __init__(self, r: random.Random, ticket: Ticket, first_name: str) -> None:
        self.r, self.ticket, self.first_name = r, ticket, first_name
        self.t, self.status = ticket.created_at, "new"

    def add(
        self,
        delay: int,
        event_type: str,
        author: str,
        status: str | None = None,
        is_public: bool | None = None,
        body: str | None = None,
    ) -> int:
        self.t += max(1, delay)
        self.status = status or self.status
        agent = self.ticket.agent_id if author in ("agent", "system") else None
        self.ticket.events.append(
            TicketEvent(self.t, event_type, author, agent, is_public, self.status, body)
        )
        return self.t

    def agent_reply(self, delay: int) -> int:
        body = self.r.choice(vocab.AGENT_REPLIES).format(first=self.first_name)
        return self.add(delay, "agent_reply", "agent", "pending", True, body)

    def follow_up_delay(self) -> int:
        return lognormal(self.r, FOLLOW_UP_MEDIAN[self.ticket.channel] * PRIORITY_SPEED[self.ticket.priority])


def simulate_ticket(
    r: random.Random,
    params: Params,
    created_at: int,
    topic: tuple[str, str],
    first_name: str,
    customer: int | None,
    requester_email: str | None,
) -> Ticket:
    """Created, assigned, first reply, some back and forth, solved, maybe reopened, closed 4 days later."""
    channel = r.choices(vocab.TICKET_CHANNELS, vocab.TICKET_CHANNEL_MIX)[0]
    priority = r.choices(vocab.PRIORITIES, vocab.PRIORITY_MIX)[0]
    linked = customer is not None and r.random() < LINK_SHARE[channel]
    subject, first_message = topic
    ticket = Ticket(
        customer, linked, requester_email, channel, priority, subject, created_at, r.choice(AGENTS)
    )
    ticket.events.append(
        TicketEvent(
            created_at, "created", "customer", None, True, "new", first_message.format(first=first_name)
        )
    )
    h = _History(r, ticket, first_name)
    h.add(
        lognormal(r, 2 * MINUTE if channel in ("chat", "phone") else 40 * MINUTE),
        "assigned",
        "system",
        "open",
    )
    ticket.first_reply_at = h.agent_reply(_first_reply_delay(r, params, channel, priority))
    for _ in range(r.choices((0, 1, 2), (0.5, 0.35, 0.15))[0]):
        reply = r.choice(vocab.CUSTOMER_REPLIES)
        h.add(lognormal(r, CUSTOMER_REPLY_MEDIAN[channel]), "customer_reply", "customer", "open", True, reply)
        if r.random() < 0.15:
            h.add(
                lognormal(r, 10 * MINUTE),
                "internal_note",
                "agent",
                None,
                False,
                r.choice(vocab.INTERNAL_NOTES),
            )
        h.agent_reply(h.follow_up_delay())
    ticket.solved_at = h.add(lognormal(r, 20 * MINUTE), "solved", "agent", "solved")

    reopen_share = params.reopen_share_after_slow if ticket.is_slow(params) else params.reopen_share
    if r.random() < reopen_share:
        message = r.choice(vocab.REOPEN_MESSAGES)
        ticket.reopened_at = h.add(
            r.randint(2 * HOUR, 3 * DAY), "reopened", "customer", "open", True, message
        )
        h.agent_reply(h.follow_up_delay())
        ticket.solved_at = h.add(lognormal(r, 30 * MINUTE), "solved", "agent", "solved")
    h.add(AUTO_CLOSE_AFTER, "closed", "system", "closed")
    return ticket


def _first_reply_delay(r: random.Random, params: Params, channel: str, priority: str) -> int:
    if channel in ("email", "web") and r.random() < params.backlog_share:
        return r.randint(26 * HOUR, 96 * HOUR)  # the queue backed up: planted truth (a)
    return lognormal(r, FIRST_REPLY_MEDIAN[channel] * PRIORITY_SPEED[priority])


def rating_time(r: random.Random, ticket: Ticket) -> int:
    """When the requester clicks the help desk's own rating link: hours after the final solve."""
    return ticket.solved_at + lognormal(r, 3 * HOUR)


def add_csat_rating(ticket: Ticket, at: int, score: int) -> None:
    status = "closed" if at >= ticket.solved_at + AUTO_CLOSE_AFTER else "solved"
    ticket.events.append(TicketEvent(at, "csat_rated", "customer", None, None, status, csat_score=score))
    ticket.events.sort(key=lambda e: e.at)


def simulate_follow_up(
    r: random.Random, params: Params, created_at: int, first_name: str, customer: int, email: str
) -> Ticket:
    """An outbound ticket: an agent calls or emails a customer about a survey answer, then solves it.

    The agent opens it (`created` by an agent: how the warehouse tells outbound from inbound), the
    customer sometimes answers, the agent replies publicly and solves it.
    """
    channel = "phone" if r.random() < params.follow_up_phone_share else "email"
    agent = r.choice(AGENTS)
    subject = r.choice(vocab.FOLLOW_UP_SUBJECTS)
    ticket = Ticket(customer, True, email, channel, "normal", subject, created_at, agent)
    opener = vocab.FOLLOW_UP_OPENERS[channel].format(first=first_name)
    # A call is logged for the team; an email is what the customer receives.
    ticket.events.append(
        TicketEvent(created_at, "created", "agent", agent, channel == "email", "new", opener)
    )
    h = _History(r, ticket, first_name)
    h.add(lognormal(r, MINUTE), "assigned", "system", "open")
    if r.random() < params.follow_up_customer_reply_share:
        answer = r.choice(vocab.FOLLOW_UP_CUSTOMER_REPLIES)
        h.add(
            lognormal(r, CUSTOMER_REPLY_MEDIAN[channel]), "customer_reply", "customer", "open", True, answer
        )
    reply = r.choice(vocab.FOLLOW_UP_AGENT_REPLIES).format(first=first_name)
    ticket.first_reply_at = h.add(lognormal(r, 15 * MINUTE), "agent_reply", "agent", "pending", True, reply)
    ticket.solved_at = h.add(lognormal(r, 10 * MINUTE), "solved", "agent", "solved")
    h.add(AUTO_CLOSE_AFTER, "closed", "system", "closed")
    return ticket
