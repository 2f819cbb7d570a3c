"""Daily partitions: the schedule, a backfill from the command line, the new-files sensor, and alerts.

One tiny demo warehouse goes through the life of a real deployment: a backfill of its first days,
files arriving for two more days (the sensor asks for one run covering both, once), the nightly
partition of a single day, and a day whose file is rejected (the alert names it; nothing published).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import dagster as dg
import duckdb
import pytest

from ingestion.settings import PROJECT_ROOT, Paths
from tests.conftest import demo_warehouse, landed_days

DEMO_ARGS = ("--customers", "120", "--days", "12", "--seed", "5")
HELD_BACK = ("2025-01-11", "2025-01-12")


def serving_fingerprint(paths: Paths) -> tuple[int, int]:
    with duckdb.connect(str(paths.serving_db), read_only=True) as con:
        return con.execute("select count(*), sum(hash(o)) from marts.fct_orders as o").fetchone()


class Webhook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Webhook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def webhook() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Paths, Path, Path]]:
    """A demo warehouse with the last two days' files held back, and its own Dagster home."""
    root = tmp_path_factory.mktemp("partitions")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    held = root / "held"
    with demo_warehouse(root / "warehouse", DEMO_ARGS) as paths:
        for path in sorted(paths.extracts.rglob("*_2025-01-1[12].*")):
            target = held / path.relative_to(paths.extracts)
            target.parent.mkdir(parents=True, exist_ok=True)
            path.rename(target)
        yield paths, home, held


def test_schedule_runs_the_day_that_just_ended() -> None:
    from orchestration.definitions import defs

    schedule = defs.resolve_schedule_def("nightly_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 2 * * *", "UTC")
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
        )
        requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == ["2025-02-28"]


def test_backfill_from_the_command_line_is_one_run_over_the_range(
    deployment: tuple[Paths, Path, Path],
) -> None:
    paths, home, _ = deployment
    env = {**os.environ, "CX_WAREHOUSE_DIR": str(paths.root), "DAGSTER_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.run", "--from", "2025-01-01", "--to", "2025-01-10"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert landed_days(paths) == {f"2025-01-{d:02d}" for d in range(1, 11)}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1
        assert runs[0].tags["dagster/asset_partition_range_start"] == "2025-01-01"
        assert runs[0].tags["dagster/asset_partition_range_end"] == "2025-01-10"
        # every day of the range is recorded as landed; the marts were built once, unpartitioned
        for key in (dg.AssetKey(["web", "events"]), dg.AssetKey(["crm", "orders"])):
            assert instance.get_materialized_partitions(key) == {f"2025-01-{d:02d}" for d in range(1, 11)}
        built = instance.get_latest_materialization_event(dg.AssetKey(["marts", "fct_orders"]))
        assert built is not None and built.run_id == runs[0].run_id
        assert built.dagster_event.partition is None
    with duckdb.connect(str(paths.serving_db), read_only=True) as con:
        assert con.execute("select max(ordered_at)::date from marts.fct_orders").fetchone()[0] <= date(
            2025, 1, 10
        )


def test_sensor_requests_one_run_per_arrival_and_never_twice(
    deployment: tuple[Paths, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, _, held = deployment
    from orchestration.definitions import defs

    sensor = defs.resolve_sensor_def("new_extract_files")
    monkeypatch.setenv("CX_WAREHOUSE_DIR", str(paths.root))
    monkeypatch.setenv("CX_SENSOR_SETTLE_SECONDS", "0")
    with dg.instance_for_test() as instance:

        def tick(cursor: str | None) -> dg.SensorResult:
            return sensor(dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs))

        nothing = tick(None)
        assert not nothing.run_requests  # everything in the extracts folder has landed
        for path in sorted(held.rglob("*.*")):
            target = paths.extracts / path.relative_to(held)
            shutil.copy(path, target)
        arrived = tick(nothing.cursor)
        assert len(arrived.run_requests) == 1
        request = arrived.run_requests[0]
        assert request.tags["dagster/asset_partition_range_start"] == "2025-01-11"
        assert request.tags["dagster/asset_partition_range_end"] == "2025-01-12"
        assert set(json.loads(arrived.cursor)) == {
            p.relative_to(paths.extracts).as_posix() for p in paths.extracts.rglob("*_2025-01-1[12].*")
        }
        assert not tick(arrived.cursor).run_requests  # the same files: no second run
        # Were the cursor lost, the files would be asked for again under the same run key, which
        # Dagster launches once per sensor.
        assert tick(nothing.cursor).run_requests[0].run_key == request.run_key
        # a file sent again with new contents is new
        changed = next(paths.extracts.rglob("orders_2025-01-12.csv"))
        changed.write_text(changed.read_text() + "\n")
        again = tick(arrived.cursor).run_requests
        assert len(again) == 1
        assert again[0].partition_key == "2025-01-12"
        assert again[0].run_key != request.run_key
        changed.write_text(changed.read_text().removesuffix("\n"))


def test_a_nightly_partition_lands_only_its_day(
    deployment: tuple[Paths, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, home, _ = deployment
    from orchestration.run import execute

    monkeypatch.setenv("CX_WAREHOUSE_DIR", str(paths.root))
    assert (paths.extracts / "crm" / "orders" / "orders_2025-01-12.csv").exists()  # arrived, see above
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = execute(instance, (date(2025, 1, 11), date(2025, 1, 11)))
        assert result.success
        assert result.dagster_run.tags["dagster/partition"] == "2025-01-11"
    assert landed_days(paths) == {f"2025-01-{d:02d}" for d in range(1, 12)}  # not the 12th
    with duckdb.connect(str(paths.serving_db), read_only=True) as con:
        assert con.execute("select max(ordered_at)::date from marts.fct_orders").fetchone()[0] == date(
            2025, 1, 11
        )


def test_a_failed_day_alerts_and_publishes_nothing(
    deployment: tuple[Paths, Path, Path], webhook: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, home, _ = deployment
    from orchestration.run import execute

    monkeypatch.setenv("CX_WAREHOUSE_DIR", str(paths.root))
    monkeypatch.setenv("CX_ALERT_WEBHOOK_URL", webhook)
    before = serving_fingerprint(paths)
    broken = paths.extracts / "crm" / "orders" / "orders_2025-01-12.csv"
    broken.write_text("order;customer\nO1;C1\n")  # not the orders layout: the file is rejected
    Webhook.received.clear()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = execute(instance, (date(2025, 1, 12), date(2025, 1, 12)))
        assert not result.success
        events = [e.event_type_value for e in result.all_events]
        assert "STEP_UP_FOR_RETRY" not in events  # a rejected file is not retried: it would fail again
    assert [e.step_key for e in result.all_events if e.is_step_failure] == ["land_crm"]
    assert len(Webhook.received) == 1
    text = Webhook.received[0]["text"]
    assert "for 2025-01-12" in text and "land_crm" in text and "orders_2025-01-12.csv" in text
    assert serving_fingerprint(paths) == before
    assert (paths.rejected / "crm" / "orders" / "orders_2025-01-12.csv").exists()
