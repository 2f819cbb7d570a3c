"""A backfill launched the way the Dagster UI launches one, run by the real daemon.

`dagster-webserver` and `dagster-daemon` run as `make dev` (`dagster dev`) starts them, on a tiny
demo warehouse with its own Dagster home. The test sends the webserver the GraphQL mutation the UI
sends when every asset is selected and a date range is chosen (Assets -> Materialize -> a range of
partitions), then waits for the daemon to finish the backfill. What the range must give is checked
on the lake and the serving database; the runs Dagster made, on its run tags.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from ingestion.landing import ensure_schema_files
from ingestion.settings import PROJECT_ROOT, Paths
from orchestration.partitions import RANGE_END_TAG, RANGE_START_TAG
from tests.conftest import demo_warehouse, landed_days

DEMO_ARGS = ("--customers", "120", "--days", "8", "--seed", "11")
FIRST, LAST = date(2025, 1, 2), date(2025, 1, 6)  # the range chosen in the UI: days 2 to 6 of 8
BIN = Path(sys.executable).parent
BACKFILL_TIMEOUT = 600.0  # seconds; the daemon looks at backfills every 30 s

ASSET_KEYS = "query { assetNodes { assetKey { path } } }"
# The mutation of the UI's launch dialog, with the parameters it sends for a selection of assets
# (read from the app bundled with dagster-webserver 1.13: tags, assetSelection, partitionNames, fromFailure).
LAUNCH = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
  }
}
"""
BACKFILL = """
query Backfill($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    ... on PartitionBackfill { status runs(limit: 100) { runId status tags { key value } } }
    ... on PythonError { message }
  }
}
"""


@dataclass(frozen=True)
class Dagster:
    url: str
    home: Path
    paths: Paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{url}/graphql", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.load(response)
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


def wait_for_webserver(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, log.read_text()[-3000:]
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError),
            urllib.request.urlopen(f"{url}/server_info", timeout=5) as response,
        ):
            if response.status == 200:
                return
        assert time.monotonic() < deadline, "the webserver did not start: " + log.read_text()[-3000:]
        time.sleep(0.5)


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        # A session of its own, so that the code server and run processes it starts stop with it.
        return subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dagster]:
    """The webserver and the daemon over a demo warehouse, as `make dev` starts them."""
    root = tmp_path_factory.mktemp("ui_backfill")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    with demo_warehouse(root / "warehouse", DEMO_ARGS) as paths:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CX_")}
        env |= {"CX_WAREHOUSE_DIR": str(paths.root), "DAGSTER_HOME": str(home)}
        # Made here first: started together on a new home, both would create its tables at once.
        dg.DagsterInstance.from_config(str(home)).dispose()
        port = free_port()
        workspace = ["-m", "orchestration.definitions"]
        webserver = start(
            [str(BIN / "dagster-webserver"), *workspace, "-h", "127.0.0.1", "-p", str(port)],
            env,
            root / "webserver.log",
        )
        daemon = start([str(BIN / "dagster-daemon"), "run", *workspace], env, root / "daemon.log")
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_webserver(url, webserver, root / "webserver.log")
            yield Dagster(url, home, paths)
        finally:
            stop(daemon)
            stop(webserver)


def test_a_range_chosen_in_the_ui_lands_those_days_and_publishes_them(dagster_dev: Dagster) -> None:
    url, paths = dagster_dev.url, dagster_dev.paths
    keys = [node["assetKey"] for node in graphql(url, ASSET_KEYS)["assetNodes"]]
    days = [(FIRST + timedelta(days=n)).isoformat() for n in range((LAST - FIRST).days + 1)]
    launched = graphql(
        url,
        LAUNCH,
        {
            "backfillParams": {
                "assetSelection": keys,
                "partitionNames": days,
                "fromFailure": False,
                "tags": [],
            }
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    deadline = time.monotonic() + BACKFILL_TIMEOUT
    while True:
        backfill = graphql(url, BACKFILL, {"backfillId": backfill_id})["partitionBackfillOrError"]
        if backfill["status"] not in ("REQUESTED", "CANCELING"):
            break
        assert time.monotonic() < deadline, f"the backfill did not finish: {backfill}"
        time.sleep(2)
    runs = backfill["runs"]
    print(f"backfill {backfill['status']}: {[(r['status'], r['tags']) for r in runs]}")
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    assert runs and all(r["status"] == "SUCCESS" for r in runs)
    # The days are landed by one run over the range (the single-run backfill policy), not a run per
    # day. The unpartitioned assets run in runs of their own, as Dagster's asset backfills do: the
    # erasure and the seeds first, the models as the daemon sees their parents land (in one run or
    # several: it looks every 30 s, so this varies), the publish last.
    tags = [{t["key"]: t["value"] for t in r["tags"]} for r in runs]
    ranges = [(t.get(RANGE_START_TAG), t.get(RANGE_END_TAG)) for t in tags if RANGE_START_TAG in t]
    assert ranges == [(FIRST.isoformat(), LAST.isoformat())]
    assert not any("dagster/partition" in t for t in tags)

    # Exactly the chosen days landed: not the first day before the range, nor the two after it.
    assert landed_days(paths) == set(days)
    with duckdb.connect(str(paths.serving_db), read_only=True) as con:
        first, last = con.execute(
            "select min(ordered_at)::date, max(ordered_at)::date from marts.fct_orders"
        ).fetchone()
    assert first >= FIRST and last <= LAST
    # Every day of the range is recorded as landed in Dagster, and the marts were published after it.
    with dg.DagsterInstance.from_config(str(dagster_dev.home)) as instance:
        assert instance.get_materialized_partitions(dg.AssetKey(["crm", "orders"])) == set(days)
        published = instance.get_latest_materialization_event(dg.AssetKey(["serving_database"]))
        assert published is not None and published.run_id in {r["runId"] for r in runs}
        # Each run ran its steps in its own process (the in-process executor), not a process per step.
        for run in runs:
            assert instance.all_logs(run["runId"], of_type=dg.DagsterEventType.STEP_START)
            assert not instance.all_logs(run["runId"], of_type=dg.DagsterEventType.STEP_WORKER_STARTING)


def test_a_run_of_some_dbt_models_tests_only_what_it_builds(warehouse: Paths) -> None:
    """The daemon splits a backfill's dbt models over several runs as their parents land (above, the
    staging models of two sources in one run, those of the other two in the next): a run must not run
    a test that reads a model another run builds. dbt's default (eager) picks every test touching a
    selected model: on a new warehouse the relationships test of `stg_surveys__invitations` against
    `stg_crm__customers` ran with the customers and failed on the missing invitations table."""
    from orchestration.dbt import cx_dbt_models
    from orchestration.definitions import defs

    ensure_schema_files(warehouse)  # the lake's files exist, with no rows: nothing has landed yet
    customers = dg.AssetKey(["staging", "stg_crm__customers"])
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [cx_dbt_models],
            selection=[customers],
            resources={"dbt": defs.resources["dbt"]},
            instance=instance,
            raise_on_error=False,
        )
    assert result.success, [
        e.event_specific_data.error.message for e in result.all_events if e.is_step_failure
    ]
    built = {e.asset_key for e in result.get_asset_materialization_events()}
    assert built == {customers}
    checks = {e.asset_key for e in result.get_asset_check_evaluations()}
    assert checks == {customers}  # its own tests ran; none of another model's
