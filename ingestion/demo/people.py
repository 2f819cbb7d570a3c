"""Who the customers are: CRM attributes, emails (with the planted spelling quirks) and latent satisfaction."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

import numpy as np

from ingestion.demo import vocab
from ingestion.demo.params import DAY, HOUR, Params, Period

# Share of activity per local hour 0-23: quiet nights, a working-day plateau and an evening bump.
# fmt: off
LOCAL_HOUR_PROFILE = np.array([
    1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.0, 2.0, 3.5, 4.5, 5.0, 5.0,  # 00-11 h
    5.0, 4.8, 4.6, 4.5, 4.4, 4.5, 4.8, 5.2, 5.2, 4.5, 3.0, 1.8,  # 12-23 h
])
# fmt: on


@dataclass
class Customers:
    """One entry per customer, ordered by signup time (index i is `customer_ids[i]`)."""

    customer_ids: list[str]
    signup_at: np.ndarray  # epoch seconds
    plan: np.ndarray  # index into vocab.PLANS
    region: np.ndarray  # index into vocab.REGIONS
    country: list[str]
    channel: np.ndarray  # index into vocab.CHANNELS
    birth_year: list[int | None]
    gender: list[str | None]
    full_name: list[str]
    first_name: list[str]
    email: list[str]  # as stored in the CRM, odd case included
    satisfaction: np.ndarray  # latent starting satisfaction, N(0, 1)

    def __len__(self) -> int:
        return len(self.customer_ids)


def utc_hour_cdf(region: np.ndarray) -> np.ndarray:
    """Cumulative hour-of-day distribution in UTC for each row's region (rows x 24)."""
    # Local hour h is UTC hour h - offset, so rolling by the offset moves local peaks to UTC hours.
    profiles = np.stack([np.roll(LOCAL_HOUR_PROFILE, -offset) for offset in vocab.REGION_UTC_OFFSET])
    cdf = np.cumsum(profiles, axis=1)
    return (cdf / cdf[:, -1:])[region]


def sample_utc_hours(rng: np.random.Generator, region: np.ndarray) -> np.ndarray:
    cdf = utc_hour_cdf(region)
    u = rng.random(len(region))[:, None]
    return np.minimum((cdf < u).sum(axis=1), 23)


def make_customers(
    rng: np.random.Generator, r: random.Random, period: Period, n: int, params: Params
) -> Customers:
    # Signups follow the traffic seasonality plus a growth trend over the period.
    weights = period.day_weights(weekend=0.7, peak=0.5) * (1 + 0.3 * np.arange(period.days) / period.days)
    day = rng.choice(period.days, size=n, p=weights / weights.sum())
    region = rng.choice(len(vocab.REGIONS), size=n, p=vocab.REGION_MIX)
    signup = period.start + day * DAY + sample_utc_hours(rng, region) * HOUR + rng.integers(0, HOUR, size=n)
    order = np.argsort(signup, kind="stable")
    signup, region = signup[order], region[order]

    first, last = _names(rng, region)
    customers = Customers(
        customer_ids=[f"cus_{i + 1:06d}" for i in range(n)],
        signup_at=signup.astype(np.int64),
        plan=rng.choice(len(vocab.PLANS), size=n, p=vocab.PLAN_MIX),
        region=region,
        country=_countries(rng, region),
        channel=rng.choice(len(vocab.CHANNELS), size=n, p=vocab.CHANNEL_MIX),
        birth_year=_birth_years(rng, n),
        gender=_genders(rng, n),
        full_name=[f"{f} {la}" for f, la in zip(first, last, strict=True)],
        first_name=first,
        email=_emails(r, first, last, params.crm_odd_case_share),
        satisfaction=rng.normal(0.0, 1.0, size=n),
    )
    _plant_duplicate_accounts(rng, customers, params.duplicate_pair_share)
    return customers


def _names(rng: np.random.Generator, region: np.ndarray) -> tuple[list[str], list[str]]:
    first, last = [], []
    u = rng.random((len(region), 2))
    for reg, (a, b) in zip(region, u, strict=True):
        firsts, lasts = vocab.FIRST_NAMES[reg], vocab.LAST_NAMES[reg]
        first.append(firsts[int(a * len(firsts))])
        last.append(lasts[int(b * len(lasts))])
    return first, last


def _countries(rng: np.random.Generator, region: np.ndarray) -> list[str]:
    out = np.empty(len(region), dtype=object)
    for reg, options in enumerate(vocab.COUNTRIES):
        codes = [c for c, _ in options]
        weights = np.array([w for _, w in options], dtype=float)
        rows = np.flatnonzero(region == reg)
        out[rows] = np.array(codes, dtype=object)[
            rng.choice(len(codes), size=len(rows), p=weights / weights.sum())
        ]
    return out.tolist()


def _birth_years(rng: np.random.Generator, n: int) -> list[int | None]:
    years = np.clip(np.round(rng.normal(1986, 12, size=n)), 1940, 2006).astype(int)
    known = rng.random(n) >= 0.3  # 30% never told us
    return [int(y) if k else None for y, k in zip(years, known, strict=True)]


def _genders(rng: np.random.Generator, n: int) -> list[str | None]:
    picks = rng.choice(len(vocab.GENDERS), size=n, p=vocab.GENDER_MIX)
    given = rng.random(n) >= 0.35  # 35% left it empty
    return [vocab.GENDERS[p] if g else None for p, g in zip(picks, given, strict=True)]


def ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _emails(r: random.Random, first: list[str], last: list[str], odd_case_share: float) -> list[str]:
    """Unique emails built from names; a share is stored with odd capitalisation, as CRMs do."""
    domains = [d for d, _ in vocab.EMAIL_DOMAINS]
    domain_weights = [w for _, w in vocab.EMAIL_DOMAINS]
    used: set[str] = set()
    emails = []
    for f, la in zip(first, last, strict=True):
        fs, ls = ascii_slug(f), ascii_slug(la)
        local = r.choice(
            (f"{fs}.{ls}", f"{fs}{ls}", f"{fs[0]}.{ls}", f"{fs}_{ls}", f"{fs}.{ls}{r.randint(1, 99)}")
        )
        domain = r.choices(domains, domain_weights)[0]
        email, suffix = f"{local}@{domain}", 1
        while email in used:
            suffix += 1
            email = f"{local}{suffix}@{domain}"
        used.add(email)
        emails.append(odd_case(email, r) if r.random() < odd_case_share else email)
    return emails


def odd_case(email: str, r: random.Random) -> str:
    """The same address with different capitalisation (never identical to the input)."""
    local, _, domain = email.partition("@")
    options = (
        email.upper(),
        f"{'.'.join(p.capitalize() for p in local.split('.'))}@{domain.capitalize()}",
        f"{local.capitalize()}@{domain}",
        f"{local}@{domain.upper()}",
        email.lower(),
    )
    different = [o for o in options if o != email]
    return r.choice(different)


def email_variant(email: str, r: random.Random) -> str:
    """How a person may type their CRM email elsewhere: other case and/or stray spaces around it."""
    cased = odd_case(email, r)
    options = (cased, f" {email}", f"{email} ", f" {cased}", f"{cased} ", f"{email}  ")
    return r.choice(options)


def _plant_duplicate_accounts(rng: np.random.Generator, customers: Customers, share: float) -> None:
    """Planted truth (d): the later account of each pair is the same person under the same email."""
    pairs = round(len(customers) * share)
    if pairs == 0:
        return
    picks = rng.choice(len(customers), size=2 * pairs, replace=False).reshape(pairs, 2)
    for a, b in np.sort(picks, axis=1):  # a signed up first
        customers.email[b] = customers.email[a]
        customers.full_name[b] = customers.full_name[a]
        customers.first_name[b] = customers.first_name[a]
        customers.region[b] = customers.region[a]
        customers.country[b] = customers.country[a]
