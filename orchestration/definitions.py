"""The one entry point: landing, dbt, publish and site assets, the nightly job, its schedule and sensor."""

import os

import dagster as dg

from orchestration.alerts import alert_on_failure
from orchestration.dbt import cx_dbt_models, dbt_resource
from orchestration.erasure import gdpr_erasure
from orchestration.landing import landing_assets
from orchestration.publish import record_failed_run, serving_database
from orchestration.report_assets import cx_report, dbt_docs_site
from orchestration.sensors import new_extract_files_sensor

nightly = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.all(),
    description="Land the extracts of the run's days, build and test every dbt model (incrementally), then "
    "publish the serving database, then write the CX report and the dbt docs site beside it.",
    hooks={record_failed_run, alert_on_failure},
    # Transient failures (a locked file, a full disk freed meanwhile) get two more tries; a rejected
    # file or a failing dbt test does not (their Failure sets allow_retries=False).
    op_retry_policy=dg.RetryPolicy(
        max_retries=2,
        delay=int(os.environ.get("CX_RETRY_DELAY_SECONDS", "60")),
        backoff=dg.Backoff.EXPONENTIAL,
    ),
)

# At 02:00 (CX_TIMEZONE) the partition of the day that just ended.
nightly_schedule = dg.build_schedule_from_partitioned_job(
    nightly,
    hour_of_day=int(os.environ.get("CX_NIGHTLY_HOUR", "2")),
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

defs = dg.Definitions(
    assets=[gdpr_erasure, *landing_assets, cx_dbt_models, serving_database, cx_report, dbt_docs_site],
    jobs=[nightly],
    schedules=[nightly_schedule],
    sensors=[new_extract_files_sensor(nightly)],
    resources={"dbt": dbt_resource},
    # Every run (the nightly, and the runs of a backfill chosen in the UI) runs its steps one after
    # another in the run's own process. Dagster's default starts a process per step, which imports
    # these definitions (the dbt manifest, great-expectations) before doing anything: seconds a step,
    # more than running the land steps two at a time gains on 2 cores (docs/operations.md).
    executor=dg.in_process_executor,
)
