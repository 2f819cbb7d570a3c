"""A sensor that starts the nightly job when new extract files arrive, instead of waiting for 02:00.

Each tick lists the well-named extract files that have not landed yet. Files not seen by an earlier
tick (or changed since) start one run covering their extract dates, first to last (a single-run
backfill of that range: landing and dbt run once however many days arrived).

The cursor is a JSON object `{"<source>/<entity>/<file>": "<size>:<mtime_ns>"}` of the waiting
files already requested; files that have landed drop out of it, so it stays as small as the queue.
No double runs: a file already in the cursor with the same size and time is not requested again,
and each request's run key is a hash of its files, which Dagster launches at most once per sensor
even if a tick is evaluated again before its cursor was saved. A file still being copied is left
for a later tick until it has not changed for `CX_SENSOR_SETTLE_SECONDS` (default 60).
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import dagster as dg

from ingestion.landing import pending_files
from ingestion.settings import Paths
from orchestration.partitions import FIRST_DAY, daily, range_tags


def _signature(stat: os.stat_result) -> str:
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def new_files_request(cursor: str | None, now: float | None = None) -> tuple[dg.RunRequest | None, str, str]:
    """The run request for files that arrived since the cursor (or None), the new cursor, and a summary."""
    seen: dict[str, str] = json.loads(cursor) if cursor else {}
    settle = float(os.environ.get("CX_SENSOR_SETTLE_SECONDS", "60"))
    now = time.time() if now is None else now
    last_day = daily.get_last_partition_key()
    waiting, new, settling, too_early, day_not_over = {}, [], 0, [], 0
    for ef in pending_files(Paths.from_env()):
        stat = ef.path.stat()
        if now - stat.st_mtime < settle:
            settling += 1
            continue
        if ef.extract_date.isoformat() < FIRST_DAY:
            too_early.append(ef.relative)
            continue
        if last_day is None or ef.extract_date.isoformat() > last_day:
            day_not_over += 1  # its partition starts once the day has ended
            continue
        waiting[ef.relative] = _signature(stat)
        if seen.get(ef.relative) != waiting[ef.relative]:
            new.append(ef)
    summary = f"{len(new)} new extract file(s), {settling} still being written, {day_not_over} for a day not over yet"
    if too_early:
        summary += f"; {len(too_early)} dated before CX_FIRST_DAY={FIRST_DAY} cannot land: {too_early[:5]}"
    if not new:
        return None, json.dumps(waiting, sort_keys=True), summary
    first = min(ef.extract_date for ef in new)
    last = max(ef.extract_date for ef in new)
    key = hashlib.sha256(
        json.dumps(sorted((ef.relative, waiting[ef.relative]) for ef in new)).encode()
    ).hexdigest()[:16]
    request = (
        dg.RunRequest(run_key=key, partition_key=first.isoformat())
        if first == last
        else dg.RunRequest(run_key=key, tags=range_tags(first, last))
    )
    return request, json.dumps(waiting, sort_keys=True), summary


def new_extract_files_sensor(job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Starts the nightly job for newly arrived extract files (off by default: turn it on to "
        "land files as they arrive rather than at the nightly schedule). See orchestration/sensors.py.",
    )
    def new_extract_files(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        request, cursor, summary = new_files_request(context.cursor)
        context.log.info(summary)
        return dg.SensorResult(
            run_requests=[request] if request else [], skip_reason=None if request else summary, cursor=cursor
        )

    return new_extract_files
