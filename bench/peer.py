"""The dbt models built on their own: on DuckDB from scratch, and on a PostgreSQL server (the peer).

`python -m bench.peer DATA_DIR LAKE` loads the lake into the server running on DATA_DIR and prints
the rows per table and the seconds as JSON (run in its own process so that its memory is its own).
"""

from __future__ import annotations

import json
import re
import sys
import time
from contextlib import closing
from pathlib import Path

from bench.dbt_timing import dbt_timing
from bench.memory import run_measured
from ingestion.settings import DBT_PROJECT_DIR

DBT = str(Path(sys.executable).parent / "dbt")
# The peer's `dbt build` is stopped after this long: a plan gone wrong on the server (a subquery
# run once per row: docs/portability.md) would otherwise hold the bench for hours.
PEER_TIMEOUT_SECONDS = 3600
# dbt's progress lines: "12:00:00  206 of 413 START sql table model intermediate.x ...... [RUN]" and
# "12:00:05  206 of 413 OK created sql table model intermediate.x ... [SELECT 42 in 5.1s]".
STARTED = re.compile(r"\b(\d+) of \d+ START (.*?)[ .]*\[RUN\]")
ENDED = re.compile(r"\b(\d+) of \d+ (?:OK|PASS|WARN|ERROR|FAIL|SKIP)\b")


def dbt_build(
    target: str, env: dict[str, str], work: Path, watch: tuple[int, ...] = (), timeout: float | None = None
) -> dict:
    """`dbt build --target <target>` with private target and log folders; time, memory and what it ran."""
    target_path, log_path = work / f"dbt_{target}" / "target", work / f"dbt_{target}" / "logs"
    command = [DBT, "build", "--target", target, "--profiles-dir", "."]
    command += ["--target-path", str(target_path), "--log-path", str(log_path)]
    log = work / f"dbt_{target}.log"
    measured = run_measured(command, env, log, cwd=DBT_PROJECT_DIR, also_watch=watch, timeout=timeout)
    if not (target_path / "run_results.json").exists():
        if measured.timed_out:
            ended = f"was stopped after {measured.seconds:.0f} s"
        else:
            ended = f"exited with code {measured.returncode}"
        running = ", ".join(unfinished_nodes(log.read_text(errors="replace"))) or "none"
        raise RuntimeError(
            f"dbt build --target {target} {ended} before writing its run results; "
            f"still running: {running}; see {log}"
        )
    return {
        "seconds": measured.seconds,
        "peak_rss": measured.peak_rss,
        "returncode": measured.returncode,
        **dbt_timing(target_path / "run_results.json"),
    }


def postgres_peer(data_dir: Path, lake: Path, env: dict[str, str], work: Path) -> dict:
    """Start the server, load the lake into it and build the models there; stop it again."""
    # pgserver is a dev dependency: without it the rest of the bench still runs (--no-postgres)
    from pgserver.utils import PostmasterInfo

    from ingestion.postgres import start_server, stop_server

    server = start_server(data_dir)
    try:
        postmaster = PostmasterInfo.read_from_pgdata(data_dir)
        watch = (postmaster.pid,) if postmaster is not None else ()
        with closing(server.connect()) as con, con.cursor() as cur:
            cur.execute("select version()")
            version = cur.fetchone()[0]
            settings = {}
            for name in (
                "shared_buffers",
                "work_mem",
                "max_parallel_workers_per_gather",
                "effective_cache_size",
            ):
                cur.execute(f"show {name}")
                settings[name] = cur.fetchone()[0]
        log = work / "postgres_load.log"
        load = run_measured(
            [sys.executable, "-m", "bench.peer", str(data_dir), str(lake)], env, log, also_watch=watch
        )
        if load.returncode != 0:
            raise RuntimeError(f"loading the lake into PostgreSQL failed; see {log}")
        loaded = json.loads(log.read_text().strip().splitlines()[-1])
        build = dbt_build("postgres", {**env, **server.dbt_env()}, work, watch, PEER_TIMEOUT_SECONDS)
    finally:
        stop_server(data_dir)
    return {
        "version": version,
        "settings": settings,
        "load": {
            "seconds": loaded["seconds"],
            "process_seconds": load.seconds,
            "peak_rss": load.peak_rss,
            "rows": loaded["rows"],
        },
        "dbt": build,
    }


def unfinished_nodes(output: str) -> list[str]:
    """The nodes a dbt run's output shows started and not ended."""
    ended = set(ENDED.findall(output))
    return [node for number, node in STARTED.findall(output) if number not in ended]


def _load(data_dir: Path, lake: Path) -> dict:
    from ingestion.postgres import load_lake, start_server

    server = start_server(data_dir)
    started = time.perf_counter()
    rows = load_lake(lake, server)
    return {"seconds": time.perf_counter() - started, "rows": rows}


if __name__ == "__main__":
    print(json.dumps(_load(Path(sys.argv[1]), Path(sys.argv[2]))))
