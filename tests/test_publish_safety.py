"""Publishing is safe for BI tools: kill -9 at any moment, and readers during the build.

Real processes and real DuckDB files, no mocks. One demo is split into two nights: night 1 (extract
dates up to day 60) is built once; night 2 adds the remaining days, and is built once to completion
with BI readers querying the serving database throughout (the reference every other run must equal).
The nightly job runs as `python -m orchestration.run` in its own process group, as the scheduler
would run it.

The serving database is compared by a digest of every mart (rows and an order-independent hash), so
"equals night 1 or night 2" means exactly one of two complete, tested publishes, nothing in between.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

import duckdb
import pytest

from ingestion.settings import PROJECT_ROOT

DEMO_START = date(2025, 1, 1)
DEMO_ARGS = ("--customers", "200", "--days", "90", "--seed", "5", "--start", DEMO_START.isoformat())
NIGHT_1_LAST_DAY = DEMO_START + timedelta(days=59)  # day 60 of the demo
EXTRACT_DATE = re.compile(r"_(\d{4}-\d{2}-\d{2})\.")  # in extract, lake and manifest file names
RUN_TIMEOUT = 300.0  # seconds; a nightly on this demo takes about a minute
SPAWN = multiprocessing.get_context("spawn")  # fork would copy this process's DuckDB and thread state

# Rows and an order-independent hash of a mart: equal digests mean equal contents, whatever the row order.
TABLE_DIGEST = "select count(*), coalesce(sum(hash(t)), 0) from marts.{table} as t"

Digest = dict[str, tuple[int, int]]
# What a reader sees: dim_customers' rows and hash, then mart_churn_monthly's rows and hash.
Observation = tuple[int, int, int, int]


@dataclass(frozen=True)
class Warehouse:
    """A warehouse folder with its own Dagster home, run through `python -m orchestration.run`."""

    root: Path

    @property
    def extracts(self) -> Path:
        return self.root / "extracts"

    @property
    def serving_db(self) -> Path:
        return self.root / "cx.duckdb"

    @property
    def staged_db(self) -> Path:
        # Where publish writes the new serving database before renaming it over the old one.
        return self.root / ".cx.duckdb.publishing"

    @property
    def staged_wal(self) -> Path:
        return Path(f"{self.staged_db}.wal")

    @property
    def dagster_home(self) -> Path:
        return self.root / ".dagster_home"

    def env(self) -> dict[str, str]:
        # Drop every CX_* variable of the calling shell so that all paths derive from this folder.
        env = {k: v for k, v in os.environ.items() if not k.startswith("CX_")}
        return {
            **env,
            "CX_WAREHOUSE_DIR": str(self.root),
            "DAGSTER_HOME": str(self.dagster_home),
            # Unbuffered, so that log lines reach the log file when they happen: kills are timed on them.
            "PYTHONUNBUFFERED": "1",
        }

    def prepare(self) -> None:
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        (self.dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")


@dataclass(frozen=True)
class Readers:
    """What BI readers recorded while the reference night 2 was built and published."""

    hold: dict[str, bool]  # by reader: one connection for the whole build, or a fresh one per query
    records: dict[str, list[dict[str, Any]]]
    build_started: float
    build_ended: float
    publish_seconds: float


@dataclass(frozen=True)
class Nights:
    template: Warehouse  # after night 1, with night 2's extracts waiting: copy it, never run it
    night_1: Digest
    night_2: Digest  # the reference: night 2 run to completion, with readers but no kill
    readers: Readers


# ---------------------------------------------------------------------------------------------------------
# Running the nightly job and reading its serving database.


def start_nightly(warehouse: Warehouse, log: Path) -> subprocess.Popen[bytes]:
    """The nightly job in a new session, so the whole tree (Dagster, dbt) can be killed as one group."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "orchestration.run"],
            cwd=PROJECT_ROOT,
            env=warehouse.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def finish(proc: subprocess.Popen[bytes], timeout: float = RUN_TIMEOUT) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise


def run_nightly(warehouse: Warehouse, log: Path) -> tuple[int, float]:
    """Exit code and wall time of one complete nightly run."""
    started = time.monotonic()
    code = finish(start_nightly(warehouse, log))
    return code, time.monotonic() - started


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name may hold spaces and parentheses: the fields we need follow the last ')'.
            state, _ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(pgrp) == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the run and everything it started (dbt included), as a crash of the machine would."""
    pgid = proc.pid  # start_new_session: the leader's pid is the group id
    with contextlib.suppress(ProcessLookupError):  # the whole group had already ended
        os.killpg(pgid, signal.SIGKILL)
    proc.wait(30)
    # Survivors (e.g. a dbt still writing the build database) would make the crash a lie.
    deadline = time.monotonic() + 10
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not group_members(pgid), f"processes of the killed run survived: {group_members(pgid)}"


def mart_digest(serving_db: str) -> Digest:
    con = duckdb.connect(serving_db, read_only=True)
    try:
        tables = [
            t
            for (t,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts' order by 1"
            ).fetchall()
        ]
        return {t: tuple(con.execute(TABLE_DIGEST.format(table=t)).fetchone()) for t in tables}
    finally:
        con.close()


def digest_in_fresh_process(serving_db: Path) -> Digest:
    # A fresh process, as a BI tool connecting after the crash: no DuckDB instance cached in this one.
    with ProcessPoolExecutor(max_workers=1, mp_context=SPAWN) as pool:
        return pool.submit(mart_digest, str(serving_db)).result(timeout=120)


def observation_of(digest: Digest) -> Observation:
    return (*digest["dim_customers"], *digest["mart_churn_monthly"])


def which_night(digest: Digest, nights: Nights) -> str:
    if digest == nights.night_1:
        return "night 1"
    return "night 2" if digest == nights.night_2 else "neither"


def log_text(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


def steps_started(log: Path) -> list[str]:
    return re.findall(r" - (\S+) - STEP_START - ", log_text(log))


def step_seconds(log: Path, step: str) -> float:
    """How long a step took, from Dagster's STEP_SUCCESS line ("... in 116ms" or "... in 1.58s")."""
    match = re.search(rf'Finished execution of step "{step}" in ([\d.]+)(ms|s)\b', log_text(log))
    assert match, f"no STEP_SUCCESS for {step} in {log}"
    return float(match[1]) / (1000 if match[2] == "ms" else 1)


def wait_until(ready: Callable[[], bool], proc: subprocess.Popen[bytes], poll: float) -> None:
    """Poll until `ready`; fail if the run ends first (the kill point was missed)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while not ready():
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before the kill point"
        assert time.monotonic() < deadline, "kill point not reached in time"
        time.sleep(poll)


# ---------------------------------------------------------------------------------------------------------
# The two nights, built once for the module.


def extract_date(name: str) -> date:
    match = EXTRACT_DATE.search(name)
    assert match, f"no extract date in {name}"
    return date.fromisoformat(match[1])


def copy_extracts(demo: Path, extracts: Path, keep: Callable[[date], bool]) -> int:
    copied = 0
    for path in sorted(p for p in demo.rglob("*") if p.is_file()):
        if keep(extract_date(path.name)):
            target = extracts / path.relative_to(demo)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            copied += 1
    return copied


def clone(template: Warehouse, root: Path) -> Warehouse:
    # A copy of the whole folder: lake, build and serving databases, and the Dagster home.
    shutil.copytree(template.root, root)
    return Warehouse(root)


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> Nights:
    scratch = tmp_path_factory.mktemp("publish_safety")
    demo = scratch / "demo"
    subprocess.run(
        [sys.executable, "-m", "ingestion.demo", *DEMO_ARGS, "--out", str(demo)],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    )
    template = Warehouse(scratch / "template")
    template.prepare()
    assert copy_extracts(demo, template.extracts, lambda d: d <= NIGHT_1_LAST_DAY) > 0
    code, _ = run_nightly(template, scratch / "night_1.log")
    assert code == 0, log_text(scratch / "night_1.log")[-5000:]
    night_1 = digest_in_fresh_process(template.serving_db)
    assert copy_extracts(demo, template.extracts, lambda d: d > NIGHT_1_LAST_DAY) > 0

    reference = clone(template, scratch / "reference")
    code, readers = run_with_readers(reference, scratch / "night_2.log", scratch / "readers")
    assert code == 0, log_text(scratch / "night_2.log")[-5000:]
    night_2 = digest_in_fresh_process(reference.serving_db)
    # Both nights must be told apart by every check below, including the readers' few marts.
    assert observation_of(night_1) != observation_of(night_2)
    assert night_1.keys() == night_2.keys() and "fct_orders" in night_1 and "fct_touchpoints" in night_1
    return Nights(template, night_1, night_2, readers)


# ---------------------------------------------------------------------------------------------------------
# 1. kill -9 at any moment.


# Made before a run starts (a trigger may need the state before it), polled until the moment to kill it.
Trigger = Callable[[Warehouse, Path], Callable[[], bool]]


def night_2_web_file_landed(warehouse: Warehouse, log: Path) -> Callable[[], bool]:
    # A file's manifest is written last: once one of night 2's web files has one, the other sources
    # have landed and web is half-way, its next files (a few at a time, in name order) still to come.
    folder = warehouse.root / "lake" / "web" / "events"
    return lambda: any(extract_date(p.name) > NIGHT_1_LAST_DAY for p in folder.glob("*.landed.json"))


def log_shows(marker: str) -> Trigger:
    return lambda warehouse, log: lambda: marker in log_text(log)


def serving_replaced(warehouse: Warehouse) -> Callable[[], bool]:
    # A new inode: the rename just happened. The fallback of the publish triggers, should a poll miss
    # their window (or publish stop writing a WAL), as it is still a moment worth a kill.
    inode = warehouse.serving_db.stat().st_ino
    return lambda: warehouse.serving_db.stat().st_ino != inode


def written_since(path: Path, since: float) -> bool:
    # A file left by an earlier killed run (e.g. the staged WAL) must not count as this run's.
    try:
        return path.stat().st_mtime >= since
    except FileNotFoundError:
        return False


def publish_renaming(warehouse: Warehouse, log: Path) -> Callable[[], bool]:
    # Once this run's staged WAL has come and gone, the file is complete and only the fsync and the
    # rename remain: a window of milliseconds.
    replaced, since = serving_replaced(warehouse), time.time()
    wal_seen = False

    def reached() -> bool:
        nonlocal wal_seen
        wal_seen = wal_seen or written_since(warehouse.staged_wal, since)
        return (wal_seen and not warehouse.staged_wal.exists()) or replaced()

    return reached


@dataclass(frozen=True)
class KillPoint:
    phase: str
    trigger: Trigger
    poll: float  # seconds between checks: fine for file checks, coarser for reading the log
    delay: float = 0.0  # from the trigger to the kill
    may_have_published: bool = False  # before publish, only night 1 is acceptable


KILL_POINTS = (
    KillPoint("landing: night 2's web files half landed", night_2_web_file_landed, poll=0.002),
    # dbt is rebuilding the marts in the build database: some are night 2's, others still night 1's.
    KillPoint(
        "dbt: starting marts.fct_orders", log_shows("START sql table model marts.fct_orders "), poll=0.01
    ),
    KillPoint(
        "publish: new file complete, fsync and rename", publish_renaming, poll=0.001, may_have_published=True
    ),
)


def test_kill_9_at_any_moment_leaves_night_1_or_night_2(nights: Nights, tmp_path: Path) -> None:
    warehouse = clone(nights.template, tmp_path / "warehouse")
    for n, point in enumerate(KILL_POINTS, 1):
        log = tmp_path / f"kill_{n}.log"
        reached = point.trigger(warehouse, log)
        proc = start_nightly(warehouse, log)
        try:
            wait_until(reached, proc, point.poll)
            time.sleep(point.delay)
        finally:
            kill_group(proc)
        assert proc.returncode == -signal.SIGKILL, f"kill {n} ({point.phase}) came after the run ended"
        started = steps_started(log)
        staged = warehouse.staged_db.stat().st_size if warehouse.staged_db.exists() else None
        night = which_night(digest_in_fresh_process(warehouse.serving_db), nights)
        print(
            f"kill {n} ({point.phase}): last step started {started[-1] if started else None}, "
            f"staged file left: {staged} bytes (its WAL: {warehouse.staged_wal.exists()}), "
            f"serving database = {night}"
        )
        allowed = ("night 1", "night 2") if point.may_have_published else ("night 1",)
        assert night in allowed, f"kill {n} ({point.phase}) left a serving database of {night}"

    # The next night recovers by itself: no lock, half-written file or stale state to clean by hand.
    code, seconds = run_nightly(warehouse, tmp_path / "recovery.log")
    assert code == 0, log_text(tmp_path / "recovery.log")[-5000:]
    print(f"recovery run: {seconds:.0f} s")
    assert digest_in_fresh_process(warehouse.serving_db) == nights.night_2
    assert not warehouse.staged_db.exists() and not warehouse.staged_wal.exists()


# ---------------------------------------------------------------------------------------------------------
# 2. Readers during the build.

READER_PAUSE = 0.05  # seconds between a reader's queries: steady load without starving the 2-core build


def observe(con: duckdb.DuckDBPyConnection) -> Observation:
    (customers,) = con.execute("select count(*) from marts.dim_customers").fetchone()
    dim = con.execute(TABLE_DIGEST.format(table="dim_customers")).fetchone()
    churn = con.execute(TABLE_DIGEST.format(table="mart_churn_monthly")).fetchone()
    assert customers == dim[0], "two queries of one connection disagree"
    return (dim[0], dim[1], churn[0], churn[1])


def record(out: TextIO, started: float, **fields: Any) -> None:
    # One JSON line per query round, flushed, so that nothing is lost whatever happens to the reader.
    out.write(json.dumps({"t0": started, "t1": time.time(), **fields}) + "\n")
    out.flush()


def reader(serving_db: str, out_path: str, ready: str, stop: str, hold: bool) -> None:
    """Query the serving database until `stop` exists, recording every observation and error.

    hold=False: a fresh read-only connection per round (a BI tool connecting per query).
    hold=True: one read-only connection for the whole build (a dashboard left open).
    """
    with open(out_path, "w") as out:
        held = duckdb.connect(serving_db, read_only=True) if hold else None
        try:
            while not os.path.exists(stop):
                started = time.time()
                try:
                    con = held if held is not None else duckdb.connect(serving_db, read_only=True)
                    try:
                        record(out, started, obs=observe(con))
                    finally:
                        if con is not held:
                            con.close()
                except Exception as exc:
                    record(out, started, error=repr(exc))
                Path(ready).touch()
                time.sleep(READER_PAUSE)
        finally:
            if held is not None:
                held.close()


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_with_readers(warehouse: Warehouse, log: Path, scratch: Path) -> tuple[int, Readers]:
    """One complete nightly run while three readers query the serving database (section 2)."""
    scratch.mkdir()
    stop = scratch / "stop"
    hold = {"fresh_a": False, "fresh_b": False, "held": True}
    readers = [
        SPAWN.Process(
            target=reader,
            args=(
                str(warehouse.serving_db),
                f"{scratch / name}.jsonl",
                f"{scratch / name}.ready",
                str(stop),
            ),
            kwargs={"hold": held},
        )
        for name, held in hold.items()
    ]
    for process in readers:
        process.start()
    try:
        # Every reader has queried night 1 (the held one has its connection open) before the build starts.
        deadline = time.monotonic() + 60
        while not all((scratch / f"{name}.ready").exists() for name in hold):
            assert time.monotonic() < deadline, "readers did not start"
            time.sleep(0.05)
        build_started = time.time()
        code = finish(start_nightly(warehouse, log))
        build_ended = time.time()
        time.sleep(1.5)  # let the readers query the new file for a while
    finally:
        stop.touch()
        for process in readers:
            process.join(30)
            if process.is_alive():
                process.kill()
    if code != 0:
        return code, Readers(hold, {}, build_started, build_ended, 0.0)
    records = {name: read_records(scratch / f"{name}.jsonl") for name in hold}
    return code, Readers(hold, records, build_started, build_ended, step_seconds(log, "serving_database"))


def test_readers_during_the_build_see_night_1_or_night_2(nights: Nights) -> None:
    night_1, night_2 = observation_of(nights.night_1), observation_of(nights.night_2)
    readers = nights.readers
    build_started, build_ended = readers.build_started, readers.build_ended
    # Publish took no reader's lock: it neither waited nor failed though a connection was open throughout.
    publish_seconds = readers.publish_seconds
    assert publish_seconds < 5
    records = readers.records
    errors = [(name, r["error"]) for name, rs in records.items() for r in rs if "error" in r]
    assert errors == []
    during = {
        name: [r for r in rs if build_started <= r["t0"] <= build_ended] for name, rs in records.items()
    }
    print(
        f"build {build_ended - build_started:.0f} s, "
        f"publish {publish_seconds * 1000:.0f} ms; queries during the build: "
        + ", ".join(f"{name} {len(rs)}" for name, rs in during.items())
    )
    assert all(len(rs) >= 100 for rs in during.values())

    for name, rs in records.items():
        seen = [tuple(r["obs"]) for r in rs]
        assert set(seen) <= {night_1, night_2}, f"{name} saw a state that is neither night"
        if readers.hold[name]:
            # The held connection keeps the snapshot of the file it opened, even after the rename.
            assert set(seen) == {night_1}, name
            assert rs[-1]["t0"] > build_ended, "the held connection was not open across the publish"
        else:
            # Once a fresh connection has seen night 2, no later one goes back to night 1.
            assert night_1 in seen and night_2 in seen, f"{name} did not see both nights"
            first_2 = seen.index(night_2)
            assert set(seen[:first_2]) == {night_1} and set(seen[first_2:]) == {night_2}, name
            assert all(tuple(r["obs"]) == night_2 for r in rs if r["t0"] > build_ended), name
