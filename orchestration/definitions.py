"""The one entry point: landing, dbt and publish assets, the nightly job and its schedule."""

import os

import dagster as dg

from orchestration.dbt import cx_dbt_models, dbt_resource
from orchestration.erasure import gdpr_erasure
from orchestration.landing import landing_assets
from orchestration.publish import record_failed_run, serving_database

nightly = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.all(),
    description="Land new extracts, build and test every dbt model, then publish the serving database.",
    hooks={record_failed_run},
)

nightly_schedule = dg.ScheduleDefinition(
    job=nightly,
    cron_schedule=os.environ.get("CX_NIGHTLY_CRON", "0 2 * * *"),
    execution_timezone=os.environ.get("CX_TIMEZONE", "UTC"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

defs = dg.Definitions(
    assets=[gdpr_erasure, *landing_assets, cx_dbt_models, serving_database],
    jobs=[nightly],
    schedules=[nightly_schedule],
    resources={"dbt": dbt_resource},
)
