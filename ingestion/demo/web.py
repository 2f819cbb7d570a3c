"""Web analytics, vectorised: visitors and devices, sessions, and the events inside them.

Sessions are built as arrays (one row per session), then expanded into events. A session is placed
by an anchor event: its first event for ordinary visits, the `sign_up` or `purchase` event for the
sessions that must line up with the CRM. Sessions of one visitor are kept at least 30 minutes apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingestion.demo import vocab
from ingestion.demo.lifecycle import World
from ingestion.demo.params import DAY, HOUR, MINUTE, Params, Period
from ingestion.demo.people import sample_utc_hours

SESSION_GAP = 30 * MINUTE
NEVER = 10_000  # `known_from` position for sessions that stay anonymous
EVENT_NAMES = np.array(
    ["page_view", "click", "sign_up", "login", "identify", "add_to_cart", "begin_checkout", "purchase"],
    dtype=object,
)
PAGE_VIEW, CLICK, SIGN_UP, LOGIN, IDENTIFY, ADD_TO_CART, BEGIN_CHECKOUT, PURCHASE = range(8)
EMAIL_SOURCE = vocab.SOURCES.index("email")
# How a session ends: nothing special, an abandoned cart or checkout, the signup or a purchase.
PLAIN, CART, CHECKOUT, SIGNUP, BUY = range(5)


@dataclass
class WebEvents:
    visitor_id: np.ndarray
    customer: np.ndarray  # customer index, -1 while anonymous
    occurred_at: np.ndarray
    event_name: np.ndarray
    page_path: np.ndarray
    referrer: np.ndarray
    utm_source: np.ndarray
    utm_medium: np.ndarray
    utm_campaign: np.ndarray
    device: np.ndarray
    order: np.ndarray  # internal order reference on purchase events, -1 elsewhere
    revenue: np.ndarray  # NaN except on purchase events


@dataclass
class _Visitors:
    customer: np.ndarray  # -1 for visitors who never sign up
    region: np.ndarray
    device: np.ndarray
    visitor_id: np.ndarray
    first_of_customer: np.ndarray  # index of each customer's first (signup) device
    devices_of_customer: np.ndarray


def simulate_web(rng: np.random.Generator, params: Params, period: Period, world: World) -> WebEvents:
    visitors = _visitors(rng, params, world)
    cumulative = np.concatenate([[0.0], np.cumsum(period.day_weights(weekend=0.8, peak=0.35))])
    parts = [
        *_signup_sessions(rng, period, world, visitors),
        _customer_sessions(rng, params, period, world, visitors, cumulative),
        _purchase_sessions(rng, world, visitors),
        _anonymous_sessions(rng, period, visitors, cumulative),
    ]
    sessions = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    return _events(rng, period, sessions, visitors, world)


def _visitors(rng: np.random.Generator, params: Params, world: World) -> _Visitors:
    """1-3 devices per customer (the first is where they signed up) plus visitors who never sign up."""
    customers = world.customers
    n = len(customers)
    devices = rng.choice((1, 2, 3), size=n, p=(0.45, 0.4, 0.15))
    first = np.cumsum(devices) - devices
    owner = np.repeat(np.arange(n), devices)
    slot = np.arange(len(owner)) - first[owner]
    device = np.where(
        slot == 0,
        rng.choice(3, size=len(owner), p=(0.55, 0.38, 0.07)),
        rng.choice(3, size=len(owner), p=(0.25, 0.6, 0.15)),
    )
    anonymous = round(params.anonymous_visitors_per_customer * n)
    offset = rng.integers(0, 2**62)
    # A multiplicative scramble of the row number: unique, random-looking and seed-dependent.
    scrambled = (np.arange(len(owner) + anonymous, dtype=np.uint64) + np.uint64(offset)) * np.uint64(
        0x9E3779B97F4A7C15
    )
    return _Visitors(
        customer=np.concatenate([owner, np.full(anonymous, -1)]),
        region=np.concatenate([customers.region[owner], rng.choice(4, size=anonymous, p=vocab.REGION_MIX)]),
        device=np.concatenate([device, rng.choice(3, size=anonymous, p=(0.45, 0.5, 0.05))]),
        visitor_id=np.array([f"v_{x:016x}" for x in scrambled.tolist()], dtype=object),
        first_of_customer=first,
        devices_of_customer=devices,
    )


def _session_table(
    rng: np.random.Generator,
    visitor: np.ndarray,
    anchor_at: np.ndarray,
    source: np.ndarray,
    customer: np.ndarray,
) -> dict[str, np.ndarray]:
    """Plain sessions anchored at their first event, anonymous, with no login and no special ending."""
    size = len(visitor)
    return {
        "visitor": visitor,
        "customer": customer,
        "anchor_at": anchor_at.astype(np.int64),
        "anchor_pos": np.zeros(size, dtype=np.int64),
        "pages": np.minimum(rng.geometric(0.3, size), 12),  # mean 3.2 events, capped so sessions stay short
        "known_from": np.full(size, NEVER),
        "login_pos": np.full(size, -1),
        "login_event": np.full(size, LOGIN),
        "source": source,
        "ending": np.full(size, PLAIN),
        "purchase": np.full(size, -1),
        "protected": np.zeros(size, dtype=bool),
    }


def _signup_sessions(
    rng: np.random.Generator, period: Period, world: World, visitors: _Visitors
) -> list[dict[str, np.ndarray]]:
    """Anonymous visits in the two weeks before signup, then the signup session, on the first device."""
    customers = world.customers
    n = len(customers)
    signup = customers.signup_at
    earlier = rng.poisson(1.2, n)
    owner = np.repeat(np.arange(n), earlier)
    at = signup[owner] - rng.integers(2 * HOUR, 14 * DAY, size=len(owner))
    source = rng.choice(len(vocab.SOURCES), size=len(owner), p=vocab.VISITOR_SOURCE_MIX)
    # The customer's very first visit came through their acquisition channel.
    order = np.lexsort((at, owner))
    first_visit = order[np.r_[True, owner[order][1:] != owner[order][:-1]]] if len(owner) else order
    channel_source = np.asarray(vocab.CHANNEL_SOURCE)[customers.channel]
    source[first_visit] = channel_source[owner[first_visit]]
    before = _session_table(rng, visitors.first_of_customer[owner], at, source, owner)

    visitor = visitors.first_of_customer
    returning = rng.choice(len(vocab.SOURCES), size=n, p=vocab.VISITOR_SOURCE_MIX)
    signup_session = _session_table(
        rng, visitor, signup, np.where(earlier == 0, channel_source, returning), np.arange(n)
    )
    lead_in = 2 + rng.geometric(0.5, n)  # landing page(s), pricing, the signup form
    signup_session |= {
        "anchor_pos": lead_in,
        "pages": lead_in + 1 + rng.integers(1, 3, n),
        "known_from": lead_in,
        "ending": np.full(n, SIGNUP),
        "protected": np.ones(n, dtype=bool),
    }
    return [before, signup_session]


def _device_and_login(
    rng: np.random.Generator, session: dict[str, np.ndarray], visitors: _Visitors, must_log_in: bool
) -> None:
    """Pick the customer's device; off the signup device they are anonymous until a login/identify."""
    customer = session["customer"]
    devices = visitors.devices_of_customer[customer]
    other = 1 + (rng.random(len(customer)) * np.maximum(devices - 1, 1)).astype(np.int64)
    slot = np.where((devices > 1) & (rng.random(len(customer)) >= 0.6), other, 0)
    session["visitor"] = visitors.first_of_customer[customer] + slot
    # On the signup device the login cookie usually persists, so the whole session is identified.
    remembered = (slot == 0) & (rng.random(len(customer)) < 0.9)
    from_email = session["source"] == EMAIL_SOURCE
    identify = ~remembered & from_email & (rng.random(len(customer)) < 0.7)
    login = ~remembered & ~identify & ((rng.random(len(customer)) < 0.75) | must_log_in)
    session["known_from"] = np.where(remembered, 0, np.where(identify | login, 1, NEVER))
    session["login_pos"] = np.where(identify | login, 1, -1)
    session["login_event"] = np.where(identify, IDENTIFY, LOGIN)
    session["pages"] = np.where(identify | login, np.maximum(session["pages"], 2), session["pages"])


def _customer_sessions(
    rng: np.random.Generator,
    params: Params,
    period: Period,
    world: World,
    visitors: _Visitors,
    cumulative: np.ndarray,
) -> dict[str, np.ndarray]:
    """Visits while subscribed, more for satisfied customers, following the weekly/yearly traffic curve."""
    customers = world.customers
    start, end = customers.signup_at + HOUR, world.churned_at
    lo, hi = _cumulative_at(period, cumulative, start), _cumulative_at(period, cumulative, end)
    per_day = params.sessions_per_week / 7 * np.exp(0.25 * customers.satisfaction)
    count = rng.poisson(per_day * np.maximum(hi - lo, 0))
    owner = np.repeat(np.arange(len(customers)), count)
    day = _sample_days(rng, cumulative, lo[owner], hi[owner])
    at = period.start + day * DAY + sample_utc_hours(rng, customers.region[owner]) * HOUR
    at += rng.integers(0, HOUR, size=len(owner))
    keep = (at >= start[owner]) & (at < end[owner])
    owner, at = owner[keep], at[keep]
    source = rng.choice(len(vocab.SOURCES), size=len(owner), p=vocab.CUSTOMER_SOURCE_MIX)
    session = _session_table(rng, owner, at, source, owner)  # the visitor is set with the device
    _device_and_login(rng, session, visitors, must_log_in=False)
    abandon = rng.random(len(owner))
    session["ending"] = np.select([abandon < 0.025, abandon < 0.04], [CART, CHECKOUT], PLAIN)
    session["pages"] = np.where(session["ending"] != PLAIN, np.maximum(session["pages"], 4), session["pages"])
    return session


def _purchase_sessions(rng: np.random.Generator, world: World, visitors: _Visitors) -> dict[str, np.ndarray]:
    """The web side of every add-on order: product page, cart, checkout, purchase, thank-you page."""
    refs = np.array([i for i, o in enumerate(world.orders) if o.addon is not None], dtype=np.int64)
    owner = np.array([world.orders[i].customer for i in refs], dtype=np.int64)
    at = np.array([world.orders[i].at for i in refs], dtype=np.int64)
    source = rng.choice(len(vocab.SOURCES), size=len(refs), p=vocab.CUSTOMER_SOURCE_MIX)
    session = _session_table(rng, owner, at, source, owner)
    _device_and_login(rng, session, visitors, must_log_in=True)
    browse = 2 + rng.geometric(0.5, len(refs)) - 1  # pages before the product page (login is at 1)
    session |= {
        "anchor_pos": browse + 3,
        "pages": browse + 5,
        "ending": np.full(len(refs), BUY),
        "purchase": refs,
        "protected": np.ones(len(refs), dtype=bool),
    }
    return session


def _anonymous_sessions(
    rng: np.random.Generator, period: Period, visitors: _Visitors, cumulative: np.ndarray
) -> dict[str, np.ndarray]:
    """Visitors who never sign up: one to a few visits within three weeks."""
    who = np.flatnonzero(visitors.customer < 0)
    visits = np.minimum(rng.geometric(0.55, len(who)), 4)
    visitor = np.repeat(who, visits)
    first_day = _sample_days(rng, cumulative, np.zeros(len(who)), np.full(len(who), cumulative[-1]))
    later = rng.integers(0, 21, len(visitor))
    later[np.cumsum(visits) - visits] = 0  # the first visit is on the first day
    day = first_day[np.repeat(np.arange(len(who)), visits)] + later
    at = period.start + day * DAY + sample_utc_hours(rng, visitors.region[visitor]) * HOUR
    at += rng.integers(0, HOUR, len(visitor))
    source = rng.choice(len(vocab.SOURCES), size=len(visitor), p=vocab.VISITOR_SOURCE_MIX)
    return _session_table(rng, visitor, at, source, np.full(len(visitor), -1))


def _cumulative_at(period: Period, cumulative: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Cumulative traffic weight up to time t (linear within a day)."""
    return np.interp((t - period.start) / DAY, np.arange(len(cumulative)), cumulative)


def _sample_days(
    rng: np.random.Generator, cumulative: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Days drawn between two cumulative weights, in proportion to each day's traffic weight."""
    u = lo + rng.random(len(lo)) * (hi - lo)
    return np.clip(np.searchsorted(cumulative, u, side="right") - 1, 0, len(cumulative) - 2)


def _events(
    rng: np.random.Generator,
    period: Period,
    sessions: dict[str, np.ndarray],
    visitors: _Visitors,
    world: World,
) -> WebEvents:
    pages = sessions["pages"]
    first = np.cumsum(pages) - pages
    session = np.repeat(np.arange(len(pages)), pages)
    pos = np.arange(len(session)) - first[session]
    gaps = np.clip(rng.exponential(50, len(session)), 3, 300).astype(np.int64)  # seconds between events
    gaps[first] = 0
    offset = np.cumsum(gaps)
    offset -= offset[first][session]
    begin = sessions["anchor_at"] - offset[first + sessions["anchor_pos"]]
    finish = begin + offset[first + pages - 1]

    keep = _spaced_sessions(period, sessions["visitor"], begin, finish, sessions["protected"])[session]
    at = begin[session] + offset
    keep &= (at >= period.start) & (at < period.end)

    name, path = _names_and_paths(rng, sessions, session, pos, first)
    customer = np.where(pos >= sessions["known_from"][session], sessions["customer"][session], -1)
    landing = _landing(rng, sessions["source"], begin)
    order = np.full(len(session), -1, dtype=np.int64)
    bought = first + sessions["anchor_pos"]
    bought = bought[sessions["ending"] == BUY]
    order[bought] = sessions["purchase"][session[bought]]
    revenue = np.full(len(session), np.nan)
    revenue[bought] = [world.orders[i].amount for i in order[bought]]

    visitor = sessions["visitor"][session]
    on_landing = pos == 0
    rows = np.flatnonzero(keep)
    rows = rows[np.lexsort((pos[rows], visitor[rows], at[rows]))]
    return WebEvents(
        visitor_id=visitors.visitor_id[visitor][rows],
        customer=customer[rows],
        occurred_at=at[rows],
        event_name=EVENT_NAMES[name][rows],
        page_path=path[rows],
        **{key: np.where(on_landing, values[session], None)[rows] for key, values in landing.items()},
        device=np.asarray(vocab.DEVICES, dtype=object)[visitors.device[visitor]][rows],
        order=order[rows],
        revenue=revenue[rows],
    )


def _spaced_sessions(
    period: Period, visitor: np.ndarray, begin: np.ndarray, finish: np.ndarray, protected: np.ndarray
) -> np.ndarray:
    """Which sessions to keep so that one visitor's sessions are at least 30 minutes apart.

    Protected sessions (signup, purchase) always stay; they are built far enough apart. Any other
    session that comes within 30 minutes of a protected one, or of an earlier session, is dropped.
    """
    scale = np.int64(1) << 36  # room for any offset within the period, per visitor
    base = period.start - 30 * DAY
    key_begin = visitor * scale + (begin - base)
    key_finish = visitor * scale + (finish - base)
    keep = np.ones(len(visitor), dtype=bool)

    fixed = np.flatnonzero(protected)
    fixed = fixed[np.argsort(key_begin[fixed], kind="stable")]
    nxt = np.searchsorted(key_begin[fixed], key_begin)
    has_next = nxt < len(fixed)
    next_begin = key_begin[fixed][np.minimum(nxt, len(fixed) - 1)]
    too_close = has_next & (next_begin - key_finish < SESSION_GAP) & (next_begin // scale == visitor)
    has_prev = nxt > 0
    prev_finish = key_finish[fixed][np.maximum(nxt - 1, 0)]
    too_close |= has_prev & (key_begin - prev_finish < SESSION_GAP) & (prev_finish // scale == visitor)
    keep &= protected | ~too_close

    rest = np.flatnonzero(keep)
    rest = rest[np.argsort(key_begin[rest], kind="stable")]
    latest_finish = np.maximum.accumulate(key_finish[rest])
    earlier = np.concatenate([[-1], latest_finish[:-1]])
    crowded = (earlier // scale == visitor[rest]) & (key_begin[rest] - earlier < SESSION_GAP)
    keep[rest[crowded & ~protected[rest]]] = False
    return keep


def _names_and_paths(
    rng: np.random.Generator,
    sessions: dict[str, np.ndarray],
    session: np.ndarray,
    pos: np.ndarray,
    first: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Page views (some clicks) on marketing or app pages, then the special events of each session."""
    known = pos >= sessions["known_from"][session]
    marketing = np.asarray(vocab.MARKETING_PAGES, dtype=object)
    app = np.asarray(vocab.APP_PAGES, dtype=object)
    path = np.where(
        known, app[rng.integers(0, len(app), len(pos))], marketing[rng.integers(0, len(marketing), len(pos))]
    )
    name = np.where((pos > 0) & (rng.random(len(pos)) < 0.12), CLICK, PAGE_VIEW)

    def put(which: np.ndarray, at_pos: np.ndarray, event: int | np.ndarray, page: object = None) -> None:
        rows = first[which] + at_pos[which]
        name[rows] = event[which] if isinstance(event, np.ndarray) else event
        if page is not None:
            path[rows] = page[which] if isinstance(page, np.ndarray) else page

    ending, anchor, pages = sessions["ending"], sessions["anchor_pos"], sessions["pages"]
    logs_in = np.flatnonzero(sessions["login_pos"] >= 0)
    put(logs_in, sessions["login_pos"], sessions["login_event"])
    login_rows = first[logs_in] + sessions["login_pos"][logs_in]
    path[login_rows] = np.where(name[login_rows] == LOGIN, "/login", path[login_rows])

    signup = np.flatnonzero(ending == SIGNUP)
    put(signup, anchor - 2, PAGE_VIEW, "/pricing")
    put(signup, anchor - 1, PAGE_VIEW, "/signup")
    put(signup, anchor, SIGN_UP, "/signup")
    put(signup, anchor + 1, PAGE_VIEW, "/welcome")

    addon_pages = np.array([f"/shop/addons/{sku}" for sku, _ in vocab.ADDONS], dtype=object)
    product = addon_pages[rng.integers(0, len(addon_pages), len(ending))]
    buy = np.flatnonzero(ending == BUY)
    put(buy, anchor - 3, PAGE_VIEW, product)
    put(buy, anchor - 2, ADD_TO_CART, product)
    put(buy, anchor - 1, BEGIN_CHECKOUT, "/checkout")
    put(buy, anchor, PURCHASE, "/checkout")
    put(buy, anchor + 1, PAGE_VIEW, "/checkout/thank-you")

    cart = np.flatnonzero(ending == CART)
    put(cart, pages - 2, PAGE_VIEW, product)
    put(cart, pages - 1, ADD_TO_CART, product)
    checkout = np.flatnonzero(ending == CHECKOUT)
    put(checkout, pages - 2, ADD_TO_CART, product)
    put(checkout, pages - 1, BEGIN_CHECKOUT, "/checkout")
    return name, path


def _landing(rng: np.random.Generator, source: np.ndarray, begin: np.ndarray) -> dict[str, np.ndarray]:
    """Referrer and UTM tags of each session's landing event, with campaign names of that month."""
    columns = {
        key: np.full(len(source), None, dtype=object) for key in ("referrer", "utm_source", "utm_medium")
    }
    kind = np.full(len(source), None, dtype=object)
    for code, options in enumerate(vocab.LANDINGS):
        rows = np.flatnonzero(source == code)
        pick = rng.integers(0, len(options), len(rows))
        for column, key in enumerate(("referrer", "utm_source", "utm_medium")):
            columns[key][rows] = np.array([o[column] for o in options], dtype=object)[pick]
        kind[rows] = np.array([o[3] for o in options], dtype=object)[pick]
    month = np.datetime_as_string(begin.astype("datetime64[s]").astype("datetime64[M]"))
    campaign = np.full(len(source), None, dtype=object)
    tagged = np.flatnonzero(kind != None)  # noqa: E711 -- element-wise comparison with None
    campaign[tagged] = [_campaign(k, m) for k, m in zip(kind[tagged], month[tagged], strict=True)]
    return columns | {"utm_campaign": campaign}


def _campaign(kind: str, year_month: str) -> str:
    year, month = year_month[:4], int(year_month[5:])
    if kind in ("search", "social") and month == 11:
        return f"black_friday_{year}"
    if kind == "social":
        return f"holiday_{year}" if month == 12 else f"always_on_{year}_q{(month - 1) // 3 + 1}"
    if kind == "newsletter":
        return f"newsletter_{year}_{month:02d}"
    return "brand_search" if kind == "search" else "partner_program"
