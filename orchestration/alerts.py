"""Failure alerts: a failed step is logged and, when a webhook is configured, posted as a short message.

Set `CX_ALERT_WEBHOOK_URL` to a Slack- or Teams-style incoming webhook: the hook posts
`{"text": "..."}` as JSON. A webhook that cannot be reached is logged and never fails the run
further. Steps that are retried alert only when their last attempt fails.
"""

from __future__ import annotations

import json
import os
import urllib.request

import dagster as dg

from orchestration.partitions import RANGE_END_TAG, RANGE_START_TAG

WEBHOOK_VAR = "CX_ALERT_WEBHOOK_URL"
WEBHOOK_TIMEOUT_SECONDS = 10


def failure_message(
    job: str, run_id: str, step: str, error: BaseException | None, tags: dict[str, str]
) -> str:
    days = tags.get("dagster/partition") or "..".join(
        filter(None, (tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)))
    )
    reason = " ".join(str(error or "").split())[:400] or "see the run's log"
    return (
        f"cx-warehouse: the {job} run {run_id[:8]}{f' for {days}' if days else ''} failed at step {step}: "
        f"{reason}. The serving database was left as it was."
    )


def post(url: str, text: str) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
        response.read()


@dg.failure_hook
def alert_on_failure(context: dg.HookContext) -> None:
    run = context.instance.get_run_by_id(context.run_id)
    text = failure_message(
        context.job_name, context.run_id, context.op.name, context.op_exception, dict(run.tags) if run else {}
    )
    context.log.error(text)
    url = os.environ.get(WEBHOOK_VAR)
    if not url:
        return
    try:
        post(url, text)
    except OSError as exc:
        context.log.warning(f"could not post the failure alert to {WEBHOOK_VAR}: {exc}")
