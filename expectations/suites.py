"""The expectation suites, one per extract entity, kept as code.

Most rules come from the contracts in `ingestion/contracts.py` (required columns are not null,
documented vocabularies are the allowed values); the rest are written here: value ranges, unique
ids within a file, timestamp sanity. Each expectation carries a `severity`: "row" expectations send
the failing rows to quarantine; "warn" expectations are reported and let the rows land.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import great_expectations as gx
from great_expectations.expectations import Expectation

from ingestion.contracts import Entity

# Clock skew tolerated before a timestamp counts as "in the future" relative to the load.
FUTURE_TOLERANCE = timedelta(days=1)
# Oldest plausible business timestamp: older values are typos (e.g. 0202 for 2020).
EARLIEST = datetime(1990, 1, 1)
MAX_AMOUNT = 1_000_000
SCORE_RANGES = {"NPS": (0, 10), "CSAT": (1, 5), "CES": (1, 5)}
# A file's row count outside [median / ROW_COUNT_FACTOR, median * ROW_COUNT_FACTOR] of the
# entity's recent files is reported (it may be a partial or duplicated export), not blocked.
ROW_COUNT_FACTOR = 10
ROW_COUNT_HISTORY = 14


@dataclass(frozen=True)
class Rule:
    expectation: Expectation
    severity: str  # "row": failing rows are quarantined; "warn": reported only
    reason: str  # human wording of the rule, used in quarantine reasons


def _row(expectation: Expectation, reason: str) -> Rule:
    return Rule(expectation, "row", reason)


def suite_rules(entity: Entity, loaded_at: datetime) -> list[Rule]:
    """Every row-level expectation for one entity's landed rows."""
    ex = gx.expectations
    rules: list[Rule] = []
    for column in entity.columns:
        if column.required:
            rules.append(
                _row(ex.ExpectColumnValuesToNotBeNull(column=column.name), f"{column.name} is required")
            )
        if column.allowed:
            rules.append(
                _row(
                    ex.ExpectColumnValuesToBeInSet(column=column.name, value_set=list(column.allowed)),
                    f"{column.name} must be one of {', '.join(column.allowed)}",
                )
            )
        if column.type == "TIMESTAMP":
            rules.append(
                _row(
                    ex.ExpectColumnValuesToBeBetween(
                        column=column.name, min_value=EARLIEST, max_value=loaded_at + FUTURE_TOLERANCE
                    ),
                    f"{column.name} must lie between {EARLIEST:%Y-%m-%d} and the load time (not in the future)",
                )
            )
    # A key appears once per file (per version, for entities that re-send changed records).
    key = ["_source_file", entity.key, *(["updated_at"] if "updated_at" in entity.column_names else [])]
    rules.append(
        _row(
            ex.ExpectCompoundColumnsToBeUnique(column_list=key),
            f"{entity.key} must be unique within a file",
        )
    )
    rules += _entity_rules(entity.qualified_name)
    return rules


def _entity_rules(name: str) -> list[Rule]:
    ex = gx.expectations
    if name == "crm.customers":
        return [
            _row(
                ex.ExpectColumnValuesToBeBetween(
                    column="birth_year", min_value=1900, max_value=datetime.now().year
                ),
                "birth_year must be a plausible year",
            ),
            _row(
                ex.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="updated_at",
                    column_B="signup_at",
                    or_equal=True,
                    ignore_row_if="either_value_is_missing",
                ),
                "updated_at must not be before signup_at",
            ),
        ]
    if name == "crm.orders":
        return [
            _row(
                ex.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=MAX_AMOUNT),
                f"amount must be between 0 and {MAX_AMOUNT:,}",
            ),
            _row(
                ex.ExpectColumnValuesToBeBetween(column="quantity", min_value=1),
                "quantity must be at least 1",
            ),
            _row(
                ex.ExpectColumnValueLengthsToEqual(column="currency", value=3),
                "currency must be a 3-letter ISO 4217 code",
            ),
        ]
    if name == "support.tickets":
        return [
            _row(
                ex.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="updated_at",
                    column_B="created_at",
                    or_equal=True,
                    ignore_row_if="either_value_is_missing",
                ),
                "a ticket cannot be updated (or solved) before it was created",
            )
        ]
    if name == "support.ticket_events":
        return [
            _row(
                ex.ExpectColumnValuesToBeBetween(column="csat_score", min_value=1, max_value=5),
                "csat_score must be 1-5",
            )
        ]
    if name == "web.events":
        return [
            _row(
                ex.ExpectColumnValuesToBeBetween(column="revenue", min_value=0),
                "revenue must not be negative",
            )
        ]
    if name == "surveys.responses":
        return [
            _row(
                ex.ExpectColumnValuesToBeBetween(
                    column="score",
                    min_value=low,
                    max_value=high,
                    row_condition=f'survey_type=="{survey}"',
                    condition_parser="pandas",
                ),
                f"a {survey} score must be {low}-{high}",
            )
            for survey, (low, high) in SCORE_RANGES.items()
        ]
    return []


def row_count_rule(history: list[int]) -> Rule | None:
    """The file-size sanity check against the entity's recent files; none without enough history."""
    if len(history) < 7:
        return None
    recent = sorted(history[-ROW_COUNT_HISTORY:])
    median = recent[len(recent) // 2]
    return Rule(
        gx.expectations.ExpectColumnValuesToBeBetween(
            column="rows", min_value=median // ROW_COUNT_FACTOR, max_value=median * ROW_COUNT_FACTOR
        ),
        "warn",
        f"row count far from the recent median of {median} rows per file",
    )


def markdown() -> str:
    """The suites as a markdown table, for docs/quality.md (a test keeps the two in step)."""
    from ingestion.contracts import ENTITIES

    lines = ["| entity | expectation | column(s) | rule | on failure |", "| --- | --- | --- | --- | --- |"]
    for entity in ENTITIES:
        for rule in suite_rules(entity, datetime(2000, 1, 1)):
            config = rule.expectation.configuration.kwargs
            column = config.get("column") or ", ".join(config.get("column_list", []))
            if not column and "column_A" in config:
                column = f"{config['column_A']}, {config['column_B']}"
            lines.append(
                f"| {entity.qualified_name} | {rule.expectation.expectation_type} | {column} | {rule.reason} | quarantine row |"
            )
    lines.append(
        "| every entity | expect_column_values_to_be_between | rows per file | row count within 1/10x-10x of the median "
        "of the entity's last 14 files (once 7 exist) | warning |"
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
