"""The knobs of the simulation and the clock it runs on.

`Params` holds every rate and every planted effect in one place, so `docs/demo-data.md` can quote
them and a test can read them. `Period` converts between simulated seconds and calendar days.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

DAY = 86_400
HOUR = 3_600
MINUTE = 60
# The help desk exports local time at this fixed offset; its extract days are local days.
SUPPORT_UTC_OFFSET = HOUR


@dataclass(frozen=True)
class Params:
    # Latent satisfaction: each customer starts at N(0, 1) and drifts N(0, sat_drift_sd) a month.
    sat_drift_sd: float = 0.2
    # Planted truth (a): shocks to satisfaction from bad support experiences, and direct CSAT penalties.
    slow_reply_hours: float = 24.0
    slow_reply_sat_shock: float = -1.2
    reopen_sat_shock: float = -1.0
    smooth_ticket_sat_shock: float = 0.15  # fast first reply (< 4 h) and no reopen
    slow_reply_csat_penalty: float = 1.3
    reopen_csat_penalty: float = 1.0
    backlog_share: float = 0.12  # email/web tickets whose first reply waits 26-96 h
    reopen_share: float = 0.1
    reopen_share_after_slow: float = 0.2
    # Planted truths (b) and (e): monthly churn = base[plan] * exp(-churn_sat_beta * satisfaction).
    churn_base: tuple[float, float, float] = (0.06, 0.04, 0.015)  # basic, standard, premium
    churn_sat_beta: float = 0.8
    churn_cap: float = 0.5
    # Survey scores from satisfaction s: NPS = 7.6 + 1.8 s + N(0, 1.2); CSAT/CES = 3.8 + 0.6 s + N(0, 0.6).
    nps_mean: float = 7.6
    nps_sat_slope: float = 1.8
    nps_noise: float = 1.2
    five_mean: float = 3.8
    five_sat_slope: float = 0.6
    five_noise: float = 0.6
    # Planted truths (c) and (d): email spellings and duplicate accounts.
    crm_odd_case_share: float = 0.04
    email_variant_share: float = 0.1
    duplicate_pair_share: float = 0.005  # pairs of accounts sharing one email, per customer
    # Volumes.
    tickets_per_month: float = 0.12
    tickets_first_month: float = 0.3
    prospect_tickets_per_customer: float = 0.04
    one_off_per_month: float = 0.07
    upgrade_per_month: float = 0.03
    downgrade_per_month: float = 0.025
    sessions_per_week: float = 1.2
    anonymous_visitors_per_customer: float = 2.5
    # Surveys.
    nps_first_days: tuple[int, int] = (30, 60)
    nps_every_days: int = 90
    onboarding_ces_share: float = 0.7
    checkout_ces_share: float = 0.6
    ticket_csat_share: float = 0.8
    helpdesk_csat_share: float = 0.25
    nps_response_rate: float = 0.3
    csat_response_rate: float = 0.38
    ces_response_rate: float = 0.27
    website_anonymous_per_month: float = 0.02
    website_open_per_month: float = 0.01
    comment_share: float = 0.4
    # Closing the loop (truth h): the CX team calls or emails a share of the invited respondents
    # who gave a low score (NPS 0-6, CSAT/CES 1-2) and, less often, NPS passives (7-8), with an
    # outbound ticket. The delay from the response is lognormal (median, sigma) and moved into the
    # team's working hours, so its long tail arrives after the warehouse's SLA; the rest never hear back.
    follow_up_share_low: float = 0.7
    follow_up_share_passive: float = 0.3
    follow_up_median_hours: float = 20.0
    follow_up_sigma: float = 1.0
    follow_up_phone_share: float = 0.5
    follow_up_customer_reply_share: float = 0.4

    def response_rate(self, survey_type: str) -> float:
        return {
            "NPS": self.nps_response_rate,
            "CSAT": self.csat_response_rate,
            "CES": self.ces_response_rate,
        }[survey_type]


@dataclass(frozen=True)
class Period:
    """The simulated days, as epoch seconds in UTC; `end` is exclusive."""

    start_date: date
    days: int

    @property
    def start(self) -> int:
        return int(
            datetime(self.start_date.year, self.start_date.month, self.start_date.day, tzinfo=UTC).timestamp()
        )

    @property
    def end(self) -> int:
        return self.start + self.days * DAY

    @property
    def support_end(self) -> int:
        # Support files are cut by local day, so the last local day ends an offset earlier in UTC.
        return self.end - SUPPORT_UTC_OFFSET

    def day_dates(self) -> np.ndarray:
        return np.datetime64(self.start_date, "D") + np.arange(self.days)

    def day_weights(self, weekend: float, peak: float) -> np.ndarray:
        """Relative activity per day, mean 1: weekdays busier, a Nov/Dec peak and a summer lull.

        `weekend` scales Saturday/Sunday; `peak` is the height of the late-November bump.
        """
        dates = self.day_dates()
        weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        day_of_year = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
        weekly = np.where(weekday >= 5, weekend, 1.0)
        yearly = (
            1.0
            + peak * np.exp(-0.5 * ((day_of_year - 335) / 22) ** 2)
            - 0.12 * np.exp(-0.5 * ((day_of_year - 215) / 30) ** 2)
        )
        weights = weekly * yearly
        return weights / weights.mean()


def add_months(t: int, months: int) -> int:
    """The same wall-clock time `months` calendar months later, clipped to the month's last day."""
    d = datetime.fromtimestamp(t, UTC)
    index = d.month - 1 + months
    year, month = d.year + index // 12, index % 12 + 1
    day = min(d.day, calendar.monthrange(year, month)[1])
    return int(d.replace(year=year, month=month, day=day).timestamp())


def iso_utc(seconds: np.ndarray) -> np.ndarray:
    """ISO 8601 strings with a `Z` suffix, e.g. `2025-03-04T09:15:00Z`."""
    return np.char.add(np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s"), "Z")


def iso_support(seconds: np.ndarray) -> np.ndarray:
    """ISO 8601 in the help desk's local time, e.g. `2025-03-04T10:15:00+01:00`."""
    local = (seconds + SUPPORT_UTC_OFFSET).astype("datetime64[s]")
    return np.char.add(np.datetime_as_string(local, unit="s"), _offset_suffix(SUPPORT_UTC_OFFSET))


def _offset_suffix(offset: int) -> str:
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset) // MINUTE, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"
