"""The extract contracts: which files the warehouse accepts and the columns each must carry.

This module is the one definition of every extract. The demo generator writes to it, landing types
files with it, `docs/extracts.md` is rendered from it and the dbt sources are checked against it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# Extract files are named `<entity>_<YYYY-MM-DD>.<format>` inside `<source>/<entity>/`.
FILE_NAME = re.compile(
    r"^(?P<entity>[a-z_]+)_(?P<extract_date>\d{4}-\d{2}-\d{2})\.(?P<fmt>csv|jsonl|parquet)$"
)
FORMATS = ("csv", "jsonl", "parquet")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type the value is cast to when it lands; TIMESTAMP means UTC
    description: str
    required: bool = False  # a row without a value here cannot land
    allowed: tuple[str, ...] = ()  # documented vocabulary; enforced by the quality gate


@dataclass(frozen=True)
class Entity:
    source: str
    name: str
    description: str
    key: str
    columns: tuple[Column, ...]
    formats: tuple[str, ...] = FORMATS
    example_format: str = "csv"
    column_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))

    @property
    def qualified_name(self) -> str:
        return f"{self.source}.{self.name}"

    def folder(self, root: Path) -> Path:
        return root / self.source / self.name

    def file_name(self, extract_date: str, fmt: str | None = None) -> str:
        return f"{self.name}_{extract_date}.{fmt or self.example_format}"

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


TS = "TIMESTAMP"

ENTITIES: tuple[Entity, ...] = (
    Entity(
        source="crm",
        name="customers",
        description=(
            "Customer accounts. Each daily file holds the accounts created or changed that day; "
            "the latest `updated_at` version of a `customer_id` wins."
        ),
        key="customer_id",
        columns=(
            Column("customer_id", "VARCHAR", "CRM account id.", required=True),
            Column("email", "VARCHAR", "Contact email as typed in the CRM (normalised downstream)."),
            Column("full_name", "VARCHAR", "Contact name."),
            Column("signup_at", TS, "When the account was created.", required=True),
            Column("plan", "VARCHAR", "Current plan or segment.", allowed=("basic", "standard", "premium")),
            Column(
                "region", "VARCHAR", "Sales region.", allowed=("north_america", "europe", "apac", "latam")
            ),
            Column("country", "VARCHAR", "ISO 3166-1 alpha-2 country code."),
            Column(
                "acquisition_channel",
                "VARCHAR",
                "How the customer was acquired.",
                allowed=("organic_search", "paid_search", "social", "referral", "email", "direct"),
            ),
            Column("birth_year", "INTEGER", "Year of birth, if known."),
            Column(
                "gender", "VARCHAR", "Self-declared gender, if given.", allowed=("female", "male", "other")
            ),
            Column("updated_at", TS, "When this version of the record was written.", required=True),
        ),
    ),
    Entity(
        source="crm",
        name="orders",
        description=(
            "Orders and subscription events with their amounts. Subscriptions bill monthly: `new` "
            "starts one, `renewal` is a monthly charge, `upgrade`/`downgrade` change the plan and the "
            "monthly amount, `cancel` ends it (amount 0). Retail purchases are `one_off`."
        ),
        key="order_id",
        columns=(
            Column("order_id", "VARCHAR", "Order or subscription-event id.", required=True),
            Column("customer_id", "VARCHAR", "CRM account id of the buyer.", required=True),
            Column("ordered_at", TS, "When the order was placed or the event took effect.", required=True),
            Column(
                "order_type",
                "VARCHAR",
                "Kind of order or subscription event.",
                required=True,
                allowed=("new", "renewal", "upgrade", "downgrade", "cancel", "one_off"),
            ),
            Column("plan", "VARCHAR", "Plan after the event (subscriptions only)."),
            Column("quantity", "INTEGER", "Units bought, if counted."),
            Column(
                "amount",
                "DECIMAL(18,2)",
                "Amount charged, in `currency`; 0 for a cancellation.",
                required=True,
            ),
            Column("currency", "VARCHAR", "ISO 4217 currency code.", required=True),
        ),
    ),
    Entity(
        source="support",
        name="tickets",
        description=(
            "Help-desk tickets. Each daily file holds the tickets created or changed that day; the "
            "latest `updated_at` version of a `ticket_id` wins."
        ),
        key="ticket_id",
        columns=(
            Column("ticket_id", "VARCHAR", "Ticket id.", required=True),
            Column("customer_id", "VARCHAR", "CRM account id of the requester, when the help desk knows it."),
            Column("requester_email", "VARCHAR", "Email the ticket came from."),
            Column(
                "channel",
                "VARCHAR",
                "Channel the ticket came in on.",
                required=True,
                allowed=("email", "chat", "phone", "web"),
            ),
            Column(
                "priority",
                "VARCHAR",
                "Ticket priority.",
                required=True,
                allowed=("low", "normal", "high", "urgent"),
            ),
            Column("subject", "VARCHAR", "Subject line."),
            Column("created_at", TS, "When the ticket was opened.", required=True),
            Column(
                "status",
                "VARCHAR",
                "Status at `updated_at`.",
                required=True,
                allowed=("new", "open", "pending", "solved", "closed"),
            ),
            Column("agent_id", "VARCHAR", "Assigned agent at `updated_at`."),
            Column("updated_at", TS, "When this version of the ticket was written.", required=True),
        ),
    ),
    Entity(
        source="support",
        name="ticket_events",
        description=(
            "The ticket's history: creation, replies, status changes, solves, reopens and the "
            "ticket CSAT rating (`csat_rated`, score 1-5)."
        ),
        key="event_id",
        columns=(
            Column("event_id", "VARCHAR", "Event id.", required=True),
            Column("ticket_id", "VARCHAR", "Ticket the event belongs to.", required=True),
            Column("occurred_at", TS, "When it happened.", required=True),
            Column(
                "event_type",
                "VARCHAR",
                "What happened.",
                required=True,
                allowed=(
                    "created",
                    "agent_reply",
                    "customer_reply",
                    "internal_note",
                    "assigned",
                    "status_change",
                    "solved",
                    "reopened",
                    "closed",
                    "csat_rated",
                ),
            ),
            Column("author_type", "VARCHAR", "Who acted.", allowed=("customer", "agent", "system")),
            Column("agent_id", "VARCHAR", "Agent who acted or was assigned."),
            Column("is_public", "BOOLEAN", "Whether the customer saw it (replies and notes)."),
            Column(
                "status",
                "VARCHAR",
                "Ticket status after the event.",
                allowed=("new", "open", "pending", "solved", "closed"),
            ),
            Column("csat_score", "INTEGER", "Ticket CSAT, 1-5, on `csat_rated` events."),
            Column("body", "VARCHAR", "Message text (the customer's first message, replies)."),
        ),
    ),
    Entity(
        source="web",
        name="events",
        description=(
            "Web-analytics events. `visitor_id` is an anonymous browser id; `customer_id` is set "
            "once the visitor signs up, logs in or is identified (`identify` events link the two)."
        ),
        key="event_id",
        example_format="jsonl",
        columns=(
            Column("event_id", "VARCHAR", "Event id.", required=True),
            Column("visitor_id", "VARCHAR", "Anonymous browser/device id.", required=True),
            Column("customer_id", "VARCHAR", "CRM account id when logged in or identified."),
            Column("occurred_at", TS, "When it happened.", required=True),
            Column(
                "event_name",
                "VARCHAR",
                "What happened.",
                required=True,
                allowed=(
                    "page_view",
                    "click",
                    "sign_up",
                    "login",
                    "identify",
                    "add_to_cart",
                    "begin_checkout",
                    "purchase",
                ),
            ),
            Column("page_path", "VARCHAR", "Path of the page."),
            Column("referrer", "VARCHAR", "Referring URL."),
            Column("utm_source", "VARCHAR", "Campaign source."),
            Column("utm_medium", "VARCHAR", "Campaign medium."),
            Column("utm_campaign", "VARCHAR", "Campaign name."),
            Column("device", "VARCHAR", "Device class.", allowed=("desktop", "mobile", "tablet")),
            Column("order_id", "VARCHAR", "CRM order id on `purchase` events."),
            Column("revenue", "DECIMAL(18,2)", "Purchase value on `purchase` events."),
        ),
    ),
    Entity(
        source="surveys",
        name="invitations",
        description="Survey invitations sent to identified customers after a touchpoint or on a schedule.",
        key="invitation_id",
        columns=(
            Column("invitation_id", "VARCHAR", "Invitation id.", required=True),
            Column("survey_type", "VARCHAR", "Survey type.", required=True, allowed=("NPS", "CSAT", "CES")),
            Column(
                "touchpoint",
                "VARCHAR",
                "Touchpoint or trigger the survey asks about.",
                required=True,
                allowed=("relationship", "onboarding", "purchase", "support_ticket", "checkout", "website"),
            ),
            Column("channel", "VARCHAR", "How it was sent.", allowed=("email", "in_app", "sms")),
            Column("customer_id", "VARCHAR", "CRM account id invited.", required=True),
            Column("related_id", "VARCHAR", "Ticket or order id that triggered it, if any."),
            Column("sent_at", TS, "When it was sent.", required=True),
        ),
    ),
    Entity(
        source="surveys",
        name="responses",
        description=(
            "Survey answers. NPS scores 0-10, CSAT and CES 1-5. Answers to invitations carry the "
            "`invitation_id`; anonymous answers (`is_anonymous`) are never linked to a person."
        ),
        key="response_id",
        columns=(
            Column("response_id", "VARCHAR", "Response id.", required=True),
            Column("invitation_id", "VARCHAR", "Invitation answered, if the survey was sent to someone."),
            Column("survey_type", "VARCHAR", "Survey type.", required=True, allowed=("NPS", "CSAT", "CES")),
            Column(
                "touchpoint",
                "VARCHAR",
                "Touchpoint the answer is about.",
                required=True,
                allowed=("relationship", "onboarding", "purchase", "support_ticket", "checkout", "website"),
            ),
            Column("score", "INTEGER", "The answer: 0-10 for NPS, 1-5 for CSAT and CES.", required=True),
            Column("comment", "VARCHAR", "Free-text comment."),
            Column("respondent_email", "VARCHAR", "Email given on an open (uninvited) survey, if any."),
            Column("is_anonymous", "BOOLEAN", "The respondent was promised anonymity.", required=True),
            Column("responded_at", TS, "When the answer was submitted.", required=True),
        ),
    ),
)

BY_NAME: dict[str, Entity] = {e.qualified_name: e for e in ENTITIES}
SOURCES: tuple[str, ...] = tuple(dict.fromkeys(e.source for e in ENTITIES))

# Lineage columns landing adds to every row.
LINEAGE_COLUMNS: tuple[Column, ...] = (
    Column("_source_file", "VARCHAR", "Extract file the row came from, relative to the extracts folder."),
    Column("_file_checksum", "VARCHAR", "SHA-256 of that file."),
    Column("_row_number", "BIGINT", "1-based data row number within that file."),
    Column("_extract_date", "DATE", "Extract date from the file name."),
    Column("_loaded_at", TS, "When the file was landed (UTC)."),
)


def entities_of(source: str) -> tuple[Entity, ...]:
    return tuple(e for e in ENTITIES if e.source == source)


def markdown() -> str:
    """Render the contracts as the column tables of `docs/extracts.md`."""
    out: list[str] = []
    for e in ENTITIES:
        out.append(f"### `{e.source}/{e.name}/{e.file_name('YYYY-MM-DD')}`\n")
        out.append(f"{e.description} Key: `{e.key}`.\n")
        out.append("| column | type | required | allowed values | description |")
        out.append("| --- | --- | --- | --- | --- |")
        for c in e.columns:
            allowed = ", ".join(f"`{a}`" for a in c.allowed)
            out.append(
                f"| `{c.name}` | {c.type} | {'yes' if c.required else ''} | {allowed} | {c.description} |"
            )
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown())
