"""Run an entity's expectation suite on a batch of landed rows and say which rows fail and why."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.core.run_identifier import RunIdentifier

from expectations.suites import Rule, row_count_rule, suite_rules
from ingestion.contracts import Entity

log = logging.getLogger(__name__)

ROW_ID = ["_source_file", "_row_number"]


@dataclass(frozen=True)
class Outcome:
    """One expectation's result on one batch, as recorded in the run record."""

    entity: str
    expectation: str
    column: str | None
    rule: str
    severity: str
    success: bool
    element_count: int
    unexpected_count: int


@dataclass
class GateResult:
    # One row per (failing row, broken rule): _source_file, _row_number, _rule, _reason.
    failures: pd.DataFrame
    outcomes: list[Outcome] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)  # per file


@cache
def _context(root: Path | None) -> Any:
    """A file context under `root` (its Data Docs site keeps every run's results), else ephemeral."""
    if root is None:
        context = gx.get_context(mode="ephemeral")
    else:
        context = gx.get_context(mode="file", project_root_dir=str(root))
    context.data_sources.add_or_update_pandas("landing")
    return context


def _run(
    name: str, frame: pd.DataFrame, rules: list[Rule], index: list[str], docs_root: Path | None, run_name: str
) -> list[dict]:
    """Validate `frame` with a checkpoint named for the suite; its Data Docs page is updated too."""
    context = _context(docs_root)
    source = context.data_sources.get("landing")
    try:
        asset = source.get_asset(name)
    except LookupError:
        asset = source.add_dataframe_asset(name)
    try:
        batch = asset.get_batch_definition("landed rows")
    except KeyError:
        batch = asset.add_batch_definition_whole_dataframe("landed rows")
    # GX returns results grouped by column, not in suite order: tag each with its rule's position.
    for position, rule in enumerate(rules):
        rule.expectation.meta = {"rule": position}
    # The suite is rebuilt from code each time: the code, not GX's store, is its definition.
    suite = context.suites.add_or_update(
        gx.ExpectationSuite(name=name, expectations=[r.expectation for r in rules])
    )
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    actions = [gx.checkpoint.UpdateDataDocsAction(name="data docs")] if docs_root else []
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=name,
            validation_definitions=[definition],
            actions=actions,
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": index,
                "return_unexpected_index_query": False,
            },
        )
    )
    try:
        result = checkpoint.run(
            batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name)
        )
    finally:
        # The execution engine keeps the last batch it saw, with its frame, for as long as the context
        # lives (the process): a night's gate would hold a million rows per entity into the dbt build.
        batches = source.get_execution_engine().batch_manager
        batches.batch_data_cache.clear()
        batches.reset_batch_cache()
    (validation,) = result.run_results.values()
    results = [r.to_json_dict() for r in validation.results]
    return sorted(results, key=lambda r: r["expectation_config"]["meta"]["rule"])


def _offending_value(entry: dict, index: list[str]) -> str:
    # numpy scalars print as np.float64(...): show the plain value
    plain = {k: v.item() if hasattr(v, "item") else v for k, v in entry.items() if k not in index}
    values = [f"{k}={v!r}" if len(plain) > 1 else repr(v) for k, v in plain.items()]
    return ", ".join(values)


def validate(
    entity: Entity,
    frame: pd.DataFrame,
    loaded_at: datetime,
    history: list[int] | None = None,
    docs_root: Path | None = None,
) -> GateResult:
    """Validate typed rows (contract columns + `_source_file`, `_row_number`) of one entity.

    With `docs_root`, results are also kept in a GX project there, whose Data Docs site
    (`<docs_root>/gx/uncommitted/data_docs/local_site/index.html`) shows every run's validations.
    """
    run_name = f"landing {loaded_at:%Y-%m-%dT%H:%M:%S}"
    rules = suite_rules(entity, loaded_at)
    failures: list[dict] = []
    outcomes: list[Outcome] = []
    if len(frame):
        for rule, result in zip(
            rules, _run(entity.qualified_name, frame, rules, ROW_ID, docs_root, run_name), strict=True
        ):
            kwargs = result["expectation_config"]["kwargs"]
            column = kwargs.get("column") or ",".join(kwargs.get("column_list", [])) or None
            details = result.get("result", {})
            unexpected = details.get("unexpected_index_list") or []
            outcomes.append(
                Outcome(
                    entity.qualified_name,
                    result["expectation_config"]["type"],
                    column,
                    rule.reason,
                    rule.severity,
                    bool(result["success"]),
                    int(details.get("element_count", len(frame))),
                    int(details.get("unexpected_count", len(unexpected))),
                )
            )
            if result.get("exception_info", {}).get("raised_exception"):
                raise RuntimeError(
                    f"{entity.qualified_name}: expectation {rule.reason} could not run: {result['exception_info']}"
                )
            for entry in unexpected:
                failures.append(
                    {
                        "_source_file": entry["_source_file"],
                        "_row_number": int(entry["_row_number"]),
                        "_rule": result["expectation_config"]["type"],
                        "_reason": f"{rule.reason} (got {_offending_value(entry, ROW_ID)})",
                    }
                )
    warnings = _row_counts(entity, frame, history or [], outcomes, docs_root, run_name)
    return GateResult(pd.DataFrame(failures, columns=[*ROW_ID, "_rule", "_reason"]), outcomes, warnings)


def _row_counts(
    entity: Entity,
    frame: pd.DataFrame,
    history: list[int],
    outcomes: list[Outcome],
    docs_root: Path | None,
    run_name: str,
) -> dict[str, list[str]]:
    rule = row_count_rule(history)
    if rule is None or not len(frame):
        return {}
    counts = frame.groupby("_source_file").size().rename("rows").reset_index()
    (result,) = _run(f"{entity.qualified_name}.files", counts, [rule], ["_source_file"], docs_root, run_name)
    unexpected = result["result"].get("unexpected_index_list") or []
    outcomes.append(
        Outcome(
            entity.qualified_name,
            result["expectation_config"]["type"],
            "rows",
            rule.reason,
            rule.severity,
            bool(result["success"]),
            len(counts),
            len(unexpected),
        )
    )
    return {entry["_source_file"]: [f"{rule.reason}: {entry['rows']} rows"] for entry in unexpected}
