"""The static site each nightly run writes beside the serving database: the CX report and the dbt docs.

Both come after the publish, so they show what BI tools read; neither needs a server to open.
"""

import hashlib
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource

from ingestion.settings import Paths
from orchestration.cx_report import write_atomically, write_report
from orchestration.dbt import cx_dbt_project, dbt_environment
from orchestration.publish import serving_database

# Under the warehouse root (CX_WAREHOUSE_DIR).
REPORT_PAGE = Path("site", "report", "index.html")
DOCS_PAGE = Path("site", "docs", "index.html")
# What the docs page was generated from (docs_fingerprint), beside it.
DOCS_FINGERPRINT = Path("site", "docs", ".index.html.sha256")


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
    description="The dbt docs site (`dbt docs generate --static`: one HTML file holding the manifest and the "
    "build database's catalog), published beside the report; generated again only when the project or the "
    "build database's tables and columns have changed.",
)
def dbt_docs_site(dbt: DbtCliResource) -> dg.MaterializeResult:
    paths = Paths.from_env()
    page, recorded = paths.root / DOCS_PAGE, paths.root / DOCS_FINGERPRINT
    fingerprint = docs_fingerprint(cx_dbt_project.manifest_path, paths.dbt_env(), paths.build_db)
    # The page shows the project and the build database's tables and columns, which most nights leave
    # as they were: those nights keep it rather than compiling every node again (8 of the step's 11
    # seconds on the demo night).
    regenerate = not (page.exists() and recorded.exists() and recorded.read_text() == fingerprint)
    if regenerate:
        # A throwaway target folder: the page is all that is kept.
        with tempfile.TemporaryDirectory(prefix="dbt-docs-") as target, dbt_environment(paths.dbt_env()):
            dbt.cli(["docs", "generate", "--static"], target_path=Path(target)).wait()
            write_atomically(page, (Path(target) / "static_index.html").read_text(encoding="utf-8"))
        write_atomically(recorded, fingerprint)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(page)),
            "regenerated": regenerate,
            "fingerprint": fingerprint,
        }
    )


def docs_fingerprint(manifest_path: Path, dbt_env: Mapping[str, str], build_db: Path) -> str:
    """A hash of what the docs page is made of: the parsed project (without the times dbt stamps on each
    parse), the dbt version whose page template it fills, the paths dbt builds and reads, and the
    catalog's source, the build database's tables and columns with their types and comments."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    version = manifest.pop("metadata")["dbt_version"]
    with duckdb.connect(str(build_db), read_only=True) as build:
        tables = build.execute(
            "select schema_name, table_name, comment from duckdb_tables() order by all"
        ).fetchall()
        columns = build.execute(
            "select schema_name, table_name, column_index, column_name, data_type, comment "
            "from duckdb_columns() order by all"
        ).fetchall()
    content = json.dumps(
        [version, dict(dbt_env), _without_parse_times(manifest), tables, columns], sort_keys=True, default=str
    )
    return hashlib.sha256(content.encode()).hexdigest()


def _without_parse_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_parse_times(v) for k, v in value.items() if k != "created_at"}
    if isinstance(value, list):
        return [_without_parse_times(v) for v in value]
    return value
