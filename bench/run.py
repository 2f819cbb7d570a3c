"""`python -m bench.run --scale S [M L]`: generate a demo, build it in full, run one incremental night.

For each scale: the demo extracts for `days + 1` days are generated; the last day's files are held
back while the nightly job (`python -m orchestration.run`, in its own process with its own Dagster
home) lands and builds the first `days`; then they are put back and the job runs again: one
incremental night. Alongside: the floor (DuckDB reading every landed row once), the dbt models built
alone on DuckDB from scratch, and the same models on PostgreSQL (the peer). Results are appended to
bench/results.json and bench/results.md is written from it (see bench/report.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psutil

from bench.memory import run_measured
from bench.nightly import run_night
from bench.peer import dbt_build, postgres_peer
from bench.report import machine, versions, write_report
from ingestion.settings import PROJECT_ROOT

BENCH_DIR = Path(__file__).resolve().parent
START = date(2024, 1, 1)  # the demo's first day: every scale ends before today, so every day is a partition
SEED = 42
# DuckDB's limit in every DuckDB process of the bench (the build spills beyond it), so that the whole
# process tree stays under 4 GiB: the dbt process holds the Python models' frames beside DuckDB's
# buffers (at 3GB it peaked at 4.2 GiB at scale M, at 2GB 3.84-4.10 GiB), and the job's own process
# a few hundred MiB. At M, `dbt build` alone took the same time at 1500MB as at 2GB (233 s and 230 s)
# and peaked at 2.69 GiB instead of 3.29 GiB, during the churn model.
MEMORY_LIMIT = "1500MB"
# The generator holds the whole simulation in memory: about this many bytes per customer-day
# (measured at 10,000 and 20,000 customers x 730 days), plus a base.
GENERATOR_BYTES_PER_CUSTOMER_DAY = 175
GENERATOR_BASE_BYTES = 300 * 2**20


@dataclass(frozen=True)
class Scale:
    name: str
    customers: int
    days: int  # days of the full build; one more is generated for the incremental night

    @property
    def generator_bytes(self) -> int:
        return GENERATOR_BASE_BYTES + GENERATOR_BYTES_PER_CUSTOMER_DAY * self.customers * (self.days + 1)


SCALES = {
    s.name: s
    for s in (
        Scale("XS", 300, 30),  # checks the harness end to end in a few minutes
        Scale("S", 10_000, 365),
        Scale("M", 100_000, 730),
        Scale("L", 150_000, 730),  # about the most the generator fits in 24 GiB of memory
    )
}


def _env(warehouse: Path, dagster_home: Path) -> dict[str, str]:
    """The environment of every process the bench starts: its own paths, nothing from the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CX_", "DAGSTER_", "DBT_"))}
    return env | {
        "CX_WAREHOUSE_DIR": str(warehouse),
        "DAGSTER_HOME": str(dagster_home),
        "CX_DUCKDB_MEMORY_LIMIT": MEMORY_LIMIT,
        "CX_FIRST_DAY": START.isoformat(),
        # a step that fails fails the bench: retry it at once rather than after a minute or more
        "CX_RETRY_DELAY_SECONDS": "0",
    }


def _dagster_home(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "orchestration" / "dagster.yaml", folder / "dagster.yaml")
    return folder


def _move_day(source: Path, target: Path, day: date) -> int:
    """Move the extract files of one extract date from one folder tree to another; returns how many."""
    moved = 0
    for path in sorted(source.rglob(f"*_{day.isoformat()}.*")):
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        path.rename(destination)
        moved += 1
    return moved


def _du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def _log(message: str) -> None:
    print(f"{datetime.now():%H:%M:%S} {message}", flush=True)


def bench_scale(scale: Scale, work: Path, postgres: bool) -> dict:
    if work.exists():
        shutil.rmtree(work)
    warehouse, held_back = work / "warehouse", work / "held_back"
    extracts = warehouse / "extracts"
    env = _env(warehouse, _dagster_home(work / "dagster_home"))
    result: dict = {
        "customers": scale.customers,
        "days": scale.days,
        "start": START.isoformat(),
        "seed": SEED,
    }

    _log(f"{scale.name}: generating {scale.customers:,} customers x {scale.days + 1} days")
    command = [sys.executable, "-m", "ingestion.demo", "--customers", str(scale.customers)]
    command += ["--days", str(scale.days + 1), "--seed", str(SEED), "--start", START.isoformat()]
    generated = run_measured([*command, "--out", str(extracts)], env, work / "generate.log")
    if generated.returncode != 0:
        raise RuntimeError(f"the generator failed; see {work / 'generate.log'}")
    result["generate"] = {"seconds": generated.seconds, "peak_rss": generated.peak_rss}
    last_day = START + timedelta(days=scale.days)
    result["held_back_files"] = _move_day(extracts, held_back, last_day)

    serving, home = warehouse / "cx.duckdb", Path(env["DAGSTER_HOME"])
    _log(f"{scale.name}: full build of {scale.days} days")
    result["full"] = run_night(env, serving, home, work / "full_night.log")
    _log(f"{scale.name}: full build {result['full']['seconds']['total']:.0f} s; the floor")
    lake = warehouse / "lake"
    floor = run_measured(
        [sys.executable, "-m", "bench.floor", str(lake), MEMORY_LIMIT], env, work / "floor.log"
    )
    if floor.returncode != 0:
        raise RuntimeError(f"the floor query failed; see {work / 'floor.log'}")
    floor_out = json.loads((work / "floor.log").read_text().strip().splitlines()[-1])
    result["floor"] = {
        "seconds": floor_out["seconds"],
        "process_seconds": floor.seconds,
        "peak_rss": floor.peak_rss,
        "rows": floor_out["rows"],
    }

    _move_day(held_back, extracts, last_day)
    _log(f"{scale.name}: incremental night ({last_day})")
    result["incremental"] = run_night(env, serving, home, work / "incremental_night.log")
    _log(f"{scale.name}: incremental night {result['incremental']['seconds']['total']:.0f} s")
    result["lake_rows"] = sum(json.loads(m.read_text())["rows_landed"] for m in lake.rglob("*.landed.json"))
    result["web_events"] = sum(
        json.loads(m.read_text())["rows_landed"] for m in (lake / "web" / "events").glob("*.landed.json")
    )

    alone = work / "dbt_alone"
    dbt_env = env | {"CX_LAKE_DIR": str(lake), "CX_BUILD_DB": str(alone / "build.duckdb")}
    result["disk_bytes"] = {
        "extracts": _du(extracts),
        "lake": _du(lake),
        "build_db": _du(warehouse / "build"),
        "serving_db": _du(serving),
    }
    if postgres:
        # The peer's yardstick: the same `dbt build` on DuckDB, from an empty build database.
        _log(f"{scale.name}: dbt build alone on DuckDB, from scratch")
        alone.mkdir()
        result["dbt_duckdb"] = dbt_build("dev", dbt_env, alone)
        result["disk_bytes"]["dbt_alone_db"] = _du(alone / "build.duckdb")
        _log(f"{scale.name}: PostgreSQL: load the lake, dbt build --target postgres")
        try:
            result["postgres"] = postgres_peer(work / "postgres", lake, dbt_env, work)
            result["disk_bytes"]["postgres"] = _du(work / "postgres")
        except (ImportError, RuntimeError, OSError, subprocess.SubprocessError) as exc:
            result["postgres"] = {"error": f"{type(exc).__name__}: {exc}"}
            _log(f"{scale.name}: PostgreSQL peer failed: {exc}")
    return result


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--scale", nargs="+", default=["S"], choices=list(SCALES), help="scales to run")
    parser.add_argument(
        "--work-dir", type=Path, default=Path("/tmp/cx-bench"), help="where the warehouses are built"
    )
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR, help="results.json and results.md")
    parser.add_argument("--keep", action="store_true", help="keep each scale's warehouse afterwards")
    parser.add_argument(
        "--no-postgres",
        action="store_true",
        help="skip the PostgreSQL peer (and the DuckDB dbt build it is compared with)",
    )
    parser.add_argument("--note", default="", help="a remark recorded with the run")
    args = parser.parse_args(argv)
    # The bench's warehouses lay out their folders by default under each scale's folder, in its own
    # processes (`_env`) and in this one, which reads what they wrote (`Paths.from_env`): the
    # caller's CX_* paths apply to neither.
    for name in [k for k in os.environ if k.startswith("CX_")]:
        del os.environ[name]
    run: dict = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "command": "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "versions": versions(),
        "duckdb_memory_limit": MEMORY_LIMIT,
        "note": args.note,
        "scales": {},
    }
    started = time.perf_counter()
    failed = False
    for name in args.scale:
        scale = SCALES[name]
        available = psutil.virtual_memory().available
        if scale.generator_bytes > available:
            run["scales"][name] = {
                "skipped": f"the generator needs about {scale.generator_bytes / 2**30:.0f} GiB of memory; "
                f"{available / 2**30:.0f} GiB is available"
            }
            _log(f"{name}: skipped: {run['scales'][name]['skipped']}")
            continue
        work = args.work_dir / name
        try:
            run["scales"][name] = bench_scale(scale, work, postgres=not args.no_postgres)
        except Exception as exc:  # recorded with the results; the other scales still run
            run["scales"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            _log(f"{name}: failed (its logs are kept in {work}): {exc}")
            failed = True
        else:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    run["seconds"] = time.perf_counter() - started
    run["machine"]["load_average_at_end"] = os.getloadavg()
    write_report(run, args.results_dir)
    _log(f"results: {args.results_dir / 'results.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
