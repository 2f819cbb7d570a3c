"""Erasure requests (GDPR right to be forgotten) applied before each night's landing."""

import dagster as dg

from ingestion.erasure import apply_erasure_requests
from ingestion.settings import Paths
from orchestration.run_record import save


@dg.asset(
    group_name="privacy",
    description="Removes the people named in erasure-request extracts from the extracts, lake, quarantine "
    "and rejected files (docs/privacy.md). Runs before landing, which it never overlaps; the marts "
    "lose them in the same night's build.",
)
def gdpr_erasure(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    paths = Paths.from_env()
    report = apply_erasure_requests(paths)
    for problem in report.problems:
        context.log.warning(problem)
    save(
        paths,
        context.run_id,
        "erasure",
        {
            "erasures": [
                {
                    "run_id": context.run_id,
                    "request_id": r.request_id,
                    "requested_at": r.requested_at,
                    "identifiers": sum(r.resolved.values()),
                    "rows_removed": r.total_removed,
                }
                for r in report.requests
            ]
        },
    )
    return dg.MaterializeResult(
        metadata={
            "requests": len(report.requests),
            "rows_removed": dg.MetadataValue.json(report.rows_removed()),
            "files_rewritten": len(report.files_rewritten),
            "problems": dg.MetadataValue.json(report.problems),
        }
    )
