"""Daily partitions: a partition is one extract date, the day whose files a run lands.

The landing assets are partitioned; the dbt models and the publish are not: they build once per
run from whatever the lake gained (incremental models, docs/incremental.md), whichever days that
was. Partitioning them too would make Dagster record every model and every dbt test once per day
of a range (460 assets and checks x 365 days for a year's backfill), which measured about 40 s per
30 days before the run even started, for no gain: a mart is not "the mart of one day".
A backfill over a range of days is one run (single-run backfill policy): landing takes the whole
range, then dbt builds once.
"""

from __future__ import annotations

import os
from datetime import date, timedelta

import dagster as dg

# The first extract date the warehouse accepts; the demo starts on 2025-01-01.
FIRST_DAY = os.environ.get("CX_FIRST_DAY", "2025-01-01")
# Extract dates are calendar days in the company's time zone; the nightly runs after each one ends.
TIMEZONE = os.environ.get("CX_TIMEZONE", "UTC")

daily = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone=TIMEZONE)
single_run = dg.BackfillPolicy.single_run()
# The tags Dagster's own single-run backfills put on a run (not exported by the dagster package).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def days_of(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The first and last (inclusive) extract date of the run's partition or partition range."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()


def range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run cover the days first..last (inclusive), as a backfill does."""
    return {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}
