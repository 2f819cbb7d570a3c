"""One night of the real job, `python -m orchestration.run`, timed per stage from Dagster's event log.

Stages: landing (the erasure and `land_<source>` steps, less the time in the quality gate), gates (the
great-expectations runs inside landing, as each entity's check reports it), dbt (`cx_dbt_models`:
source freshness and `dbt build`) and publish (`serving_database`). The rest of the wall time is the
process starting, importing and planning the run.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

from bench.dbt_timing import dbt_timing
from bench.memory import Measured, run_measured
from ingestion.settings import Paths
from orchestration.dbt import last_build_record

DBT_STEP = "cx_dbt_models"
PUBLISH_STEP = "serving_database"
LANDING_STEPS = ("gdpr_erasure",)  # and every land_<source>


@dataclass
class Step:
    key: str
    start: float
    end: float
    status: str

    @property
    def seconds(self) -> float:
        return self.end - self.start


def stage_of(step_key: str) -> str:
    if step_key.startswith("land_") or step_key in LANDING_STEPS:
        return "landing"
    if step_key == DBT_STEP:
        return "dbt"
    if step_key == PUBLISH_STEP:
        return "publish"
    return "other"


@dataclass
class RunEvents:
    run_id: str
    status: str
    start: float  # RUN_START
    end: float  # RUN_SUCCESS or RUN_FAILURE
    steps: list[Step]  # in order; each from its first start to its last end (over retries)
    gate_seconds: float  # as the landing checks report it


def _run_events(dagster_home: Path) -> RunEvents:
    """What the instance recorded about its latest run."""
    types = {
        dg.DagsterEventType.RUN_START,
        dg.DagsterEventType.RUN_SUCCESS,
        dg.DagsterEventType.RUN_FAILURE,
        dg.DagsterEventType.STEP_START,
        dg.DagsterEventType.STEP_SUCCESS,
        dg.DagsterEventType.STEP_FAILURE,
        dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    }
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        (run,) = instance.get_runs(limit=1)
        record = RunEvents(run.run_id, run.status.value, 0.0, 0.0, [], 0.0)
        steps: dict[str, Step] = {}
        for entry in instance.all_logs(run.run_id, of_type=types):
            kind, at = entry.dagster_event.event_type, entry.timestamp
            if kind == dg.DagsterEventType.RUN_START:
                record.start = at
            elif kind in (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE):
                record.end = at
            elif kind == dg.DagsterEventType.STEP_START:
                steps.setdefault(entry.step_key, Step(entry.step_key, at, at, "started"))
            elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
                seconds = entry.dagster_event.event_specific_data.metadata.get("seconds")
                record.gate_seconds += seconds.value if seconds is not None else 0.0
            else:
                step = steps[entry.step_key]
                step.end = at
                step.status = "success" if kind == dg.DagsterEventType.STEP_SUCCESS else "failure"
    record.steps = sorted(steps.values(), key=lambda s: s.start)
    return record


def _rows_landed(serving_db: Path, run_id: str) -> dict[str, int]:
    """Rows landed per entity by the run, from the run record it published (`ops.file_loads`)."""
    with duckdb.connect(str(serving_db), read_only=True) as con:
        return dict(
            con.execute(
                "select entity, sum(rows_landed)::bigint from ops.file_loads "
                "where run_id = ? and status = 'landed' group by entity order by entity",
                [run_id],
            ).fetchall()
        )


def _dbt_build(warehouse: Path) -> dict:
    """dbt's own account of the night's `dbt build`: its run results, kept beside the build database."""
    run_results = last_build_record(Paths.from_env(warehouse)) / "run_results.json"
    if not run_results.exists():
        return {}
    return {"seconds": json.loads(run_results.read_text())["elapsed_time"], **dbt_timing(run_results)}


def run_night(env: dict[str, str], serving_db: Path, dagster_home: Path, log: Path) -> dict:
    """Run the nightly job once in its own process and measure it; raises when the run failed."""
    measured: Measured = run_measured([sys.executable, "-m", "orchestration.run"], env, log)
    run = _run_events(dagster_home)
    if measured.returncode != 0 or run.status != "SUCCESS":
        tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
        raise RuntimeError(f"the nightly run failed ({run.status}); the end of {log}:\n{tail}")
    steps = run.steps
    seconds = {stage: 0.0 for stage in ("landing", "dbt", "publish", "other")}
    windows: dict[str, list[tuple[float, float]]] = {stage: [] for stage in seconds}
    for step in steps:
        seconds[stage_of(step.key)] += step.seconds
        windows[stage_of(step.key)].append((step.start, step.end))
    seconds["landing"] -= run.gate_seconds
    rows = _rows_landed(serving_db, run.run_id)
    dbt_build = _dbt_build(Path(env["CX_WAREHOUSE_DIR"]))
    sampler = measured.sampler
    return {
        "run_id": run.run_id,
        "seconds": {
            "landing": seconds["landing"],
            "gates": run.gate_seconds,
            "dbt": seconds["dbt"],
            # within the dbt step: dbt's own `dbt build`; the rest is source freshness and Dagster's events
            "dbt_build_itself": dbt_build.get("seconds"),
            "publish": seconds["publish"],
            "other_steps": seconds["other"],
            # the process starting and Dagster planning the run (it records planned events per partition)
            "before_run": run.start - measured.started_at,
            "between_steps": (run.end - run.start) - sum(s.seconds for s in steps),
            "after_run": measured.started_at + measured.seconds - run.end,
            "total": measured.seconds,
        },
        # landing and gates share the landing steps' processes, so they share one peak
        "peak_rss": {
            stage: max((sampler.peak(a, b) for a, b in windows[stage]), default=0) for stage in windows
        }
        | {"total": measured.peak_rss},
        "steps": [vars(s) | {"seconds": s.seconds, "peak_rss": sampler.peak(s.start, s.end)} for s in steps],
        "dbt_build": dbt_build,
        "rows_landed": sum(rows.values()),
        "rows_landed_by_entity": rows,
    }
