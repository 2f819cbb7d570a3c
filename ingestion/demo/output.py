"""From simulated records to extract files: ids, contract columns, one file per entity and day."""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ingestion.contracts import BY_NAME, FILE_NAME, Column, Entity
from ingestion.demo import vocab
from ingestion.demo.lifecycle import World
from ingestion.demo.params import DAY, SUPPORT_UTC_OFFSET, Period, iso_support, iso_utc
from ingestion.demo.support import Ticket, TicketEvent
from ingestion.demo.web import WebEvents

log = logging.getLogger(__name__)
_json_string: Callable[[object], str] = json.JSONEncoder(ensure_ascii=False).encode


@dataclass
class Extract:
    """One entity's rows as contract columns of Python values (str, int, bool, float or None)."""

    entity: Entity
    columns: dict[str, np.ndarray]
    at: np.ndarray  # epoch seconds that decide each row's file day
    utc_offset: int = 0  # files are cut by local days at this offset

    def __post_init__(self) -> None:
        if tuple(self.columns) != self.entity.column_names:
            raise ValueError(f"{self.entity.qualified_name}: columns differ from the contract")


def build_extracts(world: World, web: WebEvents, period: Period) -> list[Extract]:
    order_ids = _ranked_ids("ord_", np.array([o.at for o in world.orders], dtype=np.int64), 7)
    ticket_ids = _ranked_ids("tkt_", np.array([t.created_at for t in world.tickets], dtype=np.int64), 6)
    related_ids = {"order": order_ids, "ticket": ticket_ids}
    return [
        _customers(world),
        _orders(world, order_ids),
        *_support(world, ticket_ids, period),
        _web(world, web, order_ids),
        *_surveys(world, period, related_ids),
    ]


def _ranked_ids(prefix: str, at: np.ndarray, width: int) -> np.ndarray:
    """Ids numbered in time order, as a source system would issue them."""
    ids = np.empty(len(at), dtype=object)
    ids[np.argsort(at, kind="stable")] = [f"{prefix}{k:0{width}d}" for k in range(1, len(at) + 1)]
    return ids


def _objects(values: list | tuple | np.ndarray) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _customer_ids(world: World, index: np.ndarray) -> np.ndarray:
    """CRM ids for customer indexes; -1 means no customer."""
    ids = _objects([*world.customers.customer_ids, None])
    return ids[np.where(index < 0, len(ids) - 1, index)]


def _customers(world: World) -> Extract:
    c, versions = world.customers, world.versions
    who = np.array([v.customer for v in versions], dtype=np.int64)
    at = np.array([v.at for v in versions], dtype=np.int64)
    columns = {
        "customer_id": _customer_ids(world, who),
        "email": _objects(c.email)[who],
        "full_name": _objects(c.full_name)[who],
        "signup_at": iso_utc(c.signup_at[who]),
        "plan": _objects(vocab.PLANS)[[v.plan for v in versions]],
        "region": _objects(vocab.REGIONS)[c.region[who]],
        "country": _objects(c.country)[who],
        "acquisition_channel": _objects(vocab.CHANNELS)[c.channel[who]],
        "birth_year": _objects([v.birth_year for v in versions]),
        "gender": _objects(c.gender)[who],
        "updated_at": iso_utc(at),
    }
    return Extract(BY_NAME["crm.customers"], columns, at)


def _orders(world: World, order_ids: np.ndarray) -> Extract:
    orders = world.orders
    at = np.array([o.at for o in orders], dtype=np.int64)
    columns = {
        "order_id": order_ids,
        "customer_id": _customer_ids(world, np.array([o.customer for o in orders], dtype=np.int64)),
        "ordered_at": iso_utc(at),
        "order_type": _objects([o.order_type for o in orders]),
        "plan": _objects([None if o.plan is None else vocab.PLANS[o.plan] for o in orders]),
        "quantity": _objects([o.quantity for o in orders]),
        "amount": _objects([o.amount for o in orders]),
        "currency": _objects([vocab.CURRENCY] * len(orders)),
    }
    return Extract(BY_NAME["crm.orders"], columns, at)


def _support(world: World, ticket_ids: np.ndarray, period: Period) -> list[Extract]:
    versions: list[tuple[Ticket, str, int, str, str | None]] = []
    events: list[tuple[str, TicketEvent]] = []
    for ticket, ticket_id in zip(world.tickets, ticket_ids, strict=True):
        seen = [e for e in ticket.events if e.at < period.support_end]  # the rest is after the last export
        events += [(ticket_id, e) for e in seen]
        versions += [(ticket, ticket_id, *state) for state in _ticket_states(seen)]
    return [_ticket_rows(world, versions), _ticket_event_rows(events)]


def _ticket_states(events: list[TicketEvent]) -> list[tuple[int, str, str | None]]:
    """(updated_at, status, agent) for each local day the status changed: that day's last state."""
    states: list[tuple[int, str, str | None]] = []
    status, agent, last_day = "", None, -1
    for e in events:
        agent = e.agent_id if e.event_type == "assigned" else agent
        if e.status == status:
            continue
        status, day = e.status, (e.at + SUPPORT_UTC_OFFSET) // DAY
        if day == last_day:
            states.pop()
        states.append((e.at, status, agent))
        last_day = day
    return states


def _ticket_rows(world: World, versions: list[tuple[Ticket, str, int, str, str | None]]) -> Extract:
    tickets = [v[0] for v in versions]
    at = np.array([v[2] for v in versions], dtype=np.int64)
    linked = np.array([t.customer if t.customer_id_known else -1 for t in tickets], dtype=np.int64)
    columns = {
        "ticket_id": _objects([v[1] for v in versions]),
        "customer_id": _customer_ids(world, linked),
        "requester_email": _objects([t.requester_email for t in tickets]),
        "channel": _objects([t.channel for t in tickets]),
        "priority": _objects([t.priority for t in tickets]),
        "subject": _objects([t.subject for t in tickets]),
        "created_at": iso_support(np.array([t.created_at for t in tickets], dtype=np.int64)),
        "status": _objects([v[3] for v in versions]),
        "agent_id": _objects([v[4] for v in versions]),
        "updated_at": iso_support(at),
    }
    return Extract(BY_NAME["support.tickets"], columns, at, SUPPORT_UTC_OFFSET)


def _ticket_event_rows(rows: list[tuple[str, TicketEvent]]) -> Extract:
    events = [e for _, e in rows]
    at = np.array([e.at for e in events], dtype=np.int64)
    columns = {
        "event_id": _ranked_ids("tev_", at, 7),
        "ticket_id": _objects([ticket_id for ticket_id, _ in rows]),
        "occurred_at": iso_support(at),
        **{
            name: _objects([getattr(e, name) for e in events])
            for name in ("event_type", "author_type", "agent_id", "is_public", "status", "csat_score", "body")
        },
    }
    return Extract(BY_NAME["support.ticket_events"], columns, at, SUPPORT_UTC_OFFSET)


def _web(world: World, web: WebEvents, order_ids: np.ndarray) -> Extract:
    with_order = _objects([*order_ids, None])
    columns = {
        "event_id": _ranked_ids("evt_", web.occurred_at, 9),
        "visitor_id": web.visitor_id,
        "customer_id": _customer_ids(world, web.customer),
        "occurred_at": iso_utc(web.occurred_at),
        "event_name": web.event_name,
        "page_path": web.page_path,
        "referrer": web.referrer,
        "utm_source": web.utm_source,
        "utm_medium": web.utm_medium,
        "utm_campaign": web.utm_campaign,
        "device": web.device,
        "order_id": with_order[np.where(web.order < 0, len(with_order) - 1, web.order)],
        "revenue": _objects([None if np.isnan(x) else float(x) for x in web.revenue]),
    }
    return Extract(BY_NAME["web.events"], columns, web.occurred_at)


def _surveys(world: World, period: Period, related_ids: dict[str, np.ndarray]) -> list[Extract]:
    kept = [pos for pos, i in enumerate(world.invitations) if i.sent_at < period.end]
    invitations = [world.invitations[pos] for pos in kept]
    sent = np.array([i.sent_at for i in invitations], dtype=np.int64)
    invitation_ids = _ranked_ids("inv_", sent, 7)
    id_of_position = dict(zip(kept, invitation_ids, strict=True))
    invited = Extract(
        BY_NAME["surveys.invitations"],
        {
            "invitation_id": invitation_ids,
            "survey_type": _objects([i.survey_type for i in invitations]),
            "touchpoint": _objects([i.touchpoint for i in invitations]),
            "channel": _objects([i.channel for i in invitations]),
            "customer_id": _customer_ids(world, np.array([i.customer for i in invitations], dtype=np.int64)),
            "related_id": _objects(
                [related_ids[i.related[0]][i.related[1]] if i.related else None for i in invitations]
            ),
            "sent_at": iso_utc(sent),
        },
        sent,
    )
    # A response always comes after its invitation, so every kept response has a kept invitation.
    responses = [r for r in world.responses if r.responded_at < period.end]
    answered = np.array([r.responded_at for r in responses], dtype=np.int64)
    answers = Extract(
        BY_NAME["surveys.responses"],
        {
            "response_id": _ranked_ids("rsp_", answered, 7),
            "invitation_id": _objects(
                [None if r.invitation is None else id_of_position[r.invitation] for r in responses]
            ),
            "survey_type": _objects([r.survey_type for r in responses]),
            "touchpoint": _objects([r.touchpoint for r in responses]),
            "score": _objects([r.score for r in responses]),
            "comment": _objects([r.comment for r in responses]),
            "respondent_email": _objects([r.respondent_email for r in responses]),
            "is_anonymous": _objects([r.is_anonymous for r in responses]),
            "responded_at": iso_utc(answered),
        },
        answered,
    )
    return [invited, answers]


# --- writing ---------------------------------------------------------------------------------------


def write_extracts(root: Path, extracts: list[Extract]) -> dict[str, int]:
    """Write every extract as one file per day that has rows; returns rows per entity."""
    counts = {}
    for extract in extracts:
        started = time.perf_counter()
        folder = extract.entity.folder(root)
        _clear_old_files(folder, extract.entity)
        files = _write_entity(folder, extract)
        counts[extract.entity.qualified_name] = len(extract.at)
        log.info(
            "wrote %-22s %9s rows in %3d files (%.1f s)",
            extract.entity.qualified_name,
            f"{len(extract.at):,}",
            files,
            time.perf_counter() - started,
        )
    return counts


def _clear_old_files(folder: Path, entity: Entity) -> None:
    """Remove extract files of an earlier run, so the folder holds exactly this run's days."""
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            match = FILE_NAME.match(path.name)
            if match and match["entity"] == entity.name:
                path.unlink()


def _write_entity(folder: Path, extract: Extract) -> int:
    """One file per (local) day; returns how many files were written.

    Each day is encoded and rendered on its own: at tens of millions of web events the text of a
    whole entity would not fit in memory.
    """
    folder.mkdir(parents=True, exist_ok=True)
    entity = extract.entity
    order = np.argsort(extract.at, kind="stable")
    day = (extract.at[order] + extract.utc_offset) // DAY
    if not len(day):
        return 0
    bounds = np.flatnonzero(np.diff(day)) + 1
    starts, ends = np.r_[0, bounds], np.r_[bounds, len(day)]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        rows = order[a:b]
        values = [extract.columns[c.name][rows] for c in entity.columns]
        extract_date = str(np.datetime64(int(day[a]), "D"))
        (folder / entity.file_name(extract_date)).write_bytes(_render(entity, values).encode("utf-8"))
    return len(starts)


def _render(entity: Entity, values: list[np.ndarray]) -> str:
    """One file's text: JSON lines, or CSV with a header."""
    if entity.example_format == "jsonl":
        return "".join(_json_lines(entity.columns, values))
    cells = [_encode(v, c, as_json=False) for c, v in zip(entity.columns, values, strict=True)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(entity.column_names)
    writer.writerows(zip(*cells, strict=True))
    return buffer.getvalue()


# How non-text values are written; text columns (VARCHAR, TIMESTAMP) are written as they are.
_AS_TEXT: dict[str, Callable[[object], str]] = {
    "BOOLEAN": lambda v: "true" if v else "false",
    "DECIMAL": lambda v: f"{float(v):.2f}",  # type: ignore[arg-type]
    "INTEGER": lambda v: str(int(v)),  # type: ignore[call-overload]
}


def _encode(values: np.ndarray, column: Column, as_json: bool) -> list[str | None]:
    """Text of each value, converting each distinct value once (a day repeats values a lot).

    CSV cells are plain text or None (written as an empty field); JSON fragments are `"key":value`.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    to_text = _AS_TEXT.get(column.type.split("(")[0])
    if to_text is None:
        to_text = _json_string if as_json else str
    texts = [to_text(u) for u in uniques]
    if as_json:
        key = _json_string(column.name)
        table = _objects([f"{key}:{t}" for t in texts] + [f"{key}:null"])
    else:
        table = _objects([*texts, None])
    return table[codes].tolist()


def _json_lines(columns: tuple[Column, ...], values: list[np.ndarray]) -> list[str]:
    fragments = [_encode(v, c, as_json=True) for c, v in zip(columns, values, strict=True)]
    return ["{" + ",".join(parts) + "}\n" for parts in zip(*fragments, strict=True)]  # type: ignore[arg-type]
