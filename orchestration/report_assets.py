"""The static site each nightly run writes beside the serving database: the CX report and the dbt docs.

Both come after the publish, so they show what BI tools read; neither needs a server to open.
"""

from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from ingestion.settings import Paths
from orchestration.cx_report import write_atomically, write_report
from orchestration.dbt import BUILD_ARTIFACTS, build_artifacts_dir, dbt_environment, scratch_target
from orchestration.publish import serving_database

# Under the warehouse root (CX_WAREHOUSE_DIR).
REPORT_PAGE = Path("site", "report", "index.html")
DOCS_PAGE = Path("site", "docs", "index.html")


@dg.asset(
    deps=[serving_database],
    group_name="serving",
    kinds={"html"},
    description="The CX report: NPS/CSAT/CES, churn, cohorts, CLV, support SLAs, touchpoints before churn and "
    "the close-the-loop backlog, drawn from the served marts as one HTML file that opens offline.",
)
def cx_report() -> dg.MaterializeResult:
    paths = Paths.from_env()
    page = paths.root / REPORT_PAGE
    charts = write_report(paths.serving_db, page)
    return dg.MaterializeResult(
        metadata={"path": dg.MetadataValue.path(str(page)), "charts": [c.div_id for c in charts]}
    )


@dg.asset(
    deps=[serving_database],
    group_name="serving",
    kinds={"dbt", "html"},
    description="The dbt docs site (`dbt docs generate --static`: one HTML file holding the last build's manifest, "
    "with the SQL each node ran, and the build database's catalog), published beside the report.",
)
def dbt_docs_site(dbt: DbtCliResource) -> dg.MaterializeResult:
    paths = Paths.from_env()
    page = paths.root / DOCS_PAGE
    # A throwaway target folder: the page is all that is kept.
    with (
        scratch_target("dbt-docs-", build_artifacts_dir(paths), BUILD_ARTIFACTS) as (target, seeded),
        dbt_environment(paths.dbt_env()),
    ):
        command = ["docs", "generate", "--static"]
        if seeded:
            # The page takes the manifest found in the target folder: the build's, compiled already
            # (--no-compile), and not replaced by a freshly parsed one (--no-write-json). Compiling every
            # node again took 8 of the step's 11 seconds on the demo night.
            command += ["--no-compile", "--no-write-json"]
        dbt.cli(command, target_path=target).wait()
        write_atomically(page, (target / "static_index.html").read_text(encoding="utf-8"))
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(page))})
