"""Closing the loop (planted truth h): the CX team follows up low survey scores with outbound tickets.

Runs after the customers' lives on its own random stream, so it adds tickets without reshuffling
what the other phases drew. Follow-ups do not move satisfaction: they are something to measure
(who was contacted, how fast), not a cause of churn in this simulation.
"""

from __future__ import annotations

import math
import random

from ingestion.demo.lifecycle import World
from ingestion.demo.params import DAY, HOUR, SUPPORT_UTC_OFFSET, Params, Period
from ingestion.demo.support import Ticket, simulate_follow_up
from ingestion.demo.surveys import Response, tone

# The CX team calls and writes between these local hours of the help desk.
WORKDAY_HOURS = (8, 18)


def follow_ups(r: random.Random, params: Params, period: Period, world: World) -> list[Ticket]:
    """One outbound ticket for each invited low-score (or passive NPS) response the team follows up."""
    c = world.customers
    tickets = []
    for response in world.responses:
        if response.invitation is None or response.responded_at >= period.end:
            continue  # only invited answers name the customer; the rest is never exported
        share = follow_up_share(params, response)
        if not share or r.random() >= share:
            continue
        delay = params.follow_up_median_hours * HOUR * math.exp(params.follow_up_sigma * r.gauss(0.0, 1.0))
        at = working_hours(r, response.responded_at + int(delay))
        if at >= period.support_end:
            continue  # after the help desk's last export
        customer = world.invitations[response.invitation].customer
        tickets.append(simulate_follow_up(r, params, at, c.first_name[customer], customer, c.email[customer]))
    return tickets


def follow_up_share(params: Params, response: Response) -> float:
    """How likely the team follows this answer up: low scores most, NPS passives less, others never."""
    mood = tone(response.survey_type, response.score)
    if mood == "negative":
        return params.follow_up_share_low
    if mood == "neutral" and response.survey_type == "NPS":
        return params.follow_up_share_passive
    return 0.0


def working_hours(r: random.Random, t: int) -> int:
    """t, or early the next working morning (help-desk local time) when t falls outside the workday."""
    local = t + SUPPORT_UTC_OFFSET
    hour = local // HOUR % 24
    first, last = WORKDAY_HOURS
    if first <= hour < last:
        return t
    day = local // DAY + (1 if hour >= last else 0)
    return day * DAY + first * HOUR - SUPPORT_UTC_OFFSET + r.randrange(2 * HOUR)
