"""The machine, the versions, and bench/results.md written from every run in bench/results.json.

`python -m bench.report` rewrites results.md from results.json (after a change to how it is rendered).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from pathlib import Path

PACKAGES = (
    "duckdb",
    "dbt-core",
    "dbt-duckdb",
    "dbt-postgres",
    "dagster",
    "dagster-dbt",
    "great-expectations",
    "pandas",
    "pgserver",
)
# The targets, judged at M.
INCREMENTAL_SHARE_MAX = 0.10
FLOOR_MULTIPLE_MAX = 5.0
PEAK_RSS_MAX = 4 * 2**30

INTRO = """# Benchmarks

Reproduce with one command: `make bench SCALES="S M"` (or `.venv/bin/python -m bench.run --scale S M`;
`--help` for the options). Each run appends its raw numbers to `bench/results.json` and rewrites this
file from it, newest run first.

Per scale the bench generates the demo (`python -m ingestion.demo`, seed 42, from 2024-01-01) for
*days + 1* days, holds the last day's files back, runs the real nightly job (`python -m
orchestration.run` in its own process, with its own Dagster home) over the first *days* (the full
build), then puts the last day back and runs the job again (one incremental night). Stage times come
from the run's Dagster event log: *landing* is the erasure and `land_<source>` steps less the *gates*
(the great-expectations runs inside them, as each entity's check reports it), *dbt* the
`cx_dbt_models` step (source freshness and `dbt build`), *publish* the `serving_database` step;
*start-up and other* is the rest of the wall time (Python and Dagster starting, planning the run).
Peak memory is the summed RSS of the whole process tree (the job and its dbt subprocess), sampled
every 0.2 s; every DuckDB in the bench runs with the `memory_limit` shown with each run (`MEMORY_LIMIT` in `bench/run.py`) and spills beyond it.
Rows per second are the rows landed that night over the night's wall time.

Alongside, on the same lake: *the floor*, one DuckDB query reading every column of every landed row
once (`bench/floor.py`); *dbt build alone on DuckDB*, the same `dbt build` into a new, empty build
database; and *the peer*, PostgreSQL (the `pgserver` wheel's server, started by the bench with its
default settings): the lake loaded with `ingestion.postgres.load_lake`, then `dbt build --target
postgres`, which leaves out the Python models (so it runs fewer nodes; both counts are shown).

Scales: XS 300 customers x 30 days (checks the harness), S 10,000 x 365, M 100,000 x 730, L 150,000 x
730 (the most the demo generator, which holds the simulation in memory, fits in 24 GiB; skipped
when the memory is not available).
"""


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        int(line.split()[1]) * 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def versions() -> dict[str, str]:
    found = {}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def write_report(run: dict, results_dir: Path) -> None:
    """Append the run to results.json and write results.md from every run in it."""
    results_dir.mkdir(parents=True, exist_ok=True)
    raw = results_dir / "results.json"
    runs = json.loads(raw.read_text()) if raw.exists() else []
    runs.append(run)
    raw.write_text(json.dumps(runs, indent=1) + "\n")
    write_markdown(results_dir)


def write_markdown(results_dir: Path) -> None:
    runs = json.loads((results_dir / "results.json").read_text())
    sections = [INTRO, *(render(r) for r in reversed(runs))]
    (results_dir / "results.md").write_text("\n".join(sections))


# --- rendering -----------------------------------------------------------------------------------------


def _gib(n: float | None) -> str:
    if not n:
        return "-"
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:,.1f}"


def _n(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def _ran(build: dict) -> str:
    ran = build.get("ran", {})
    parts = [
        f"{ran.get(kind, 0)} {label}"
        for kind, label in (
            ("model", "models"),
            ("test", "tests"),
            ("unit_test", "unit tests"),
            ("seed", "seeds"),
        )
    ]
    bad = {k: v for k, v in build.get("statuses", {}).items() if k not in ("success", "pass")}
    return ", ".join(parts) + (f"; not passed: {bad}" if bad else "")


def _thread_seconds(build: dict) -> str:
    spent = build.get("thread_seconds")
    return " / ".join(_s(spent.get(k, 0.0)) for k in ("model", "test", "unit_test")) if spent else "-"


def _night_rows(label: str, night: dict) -> list[tuple[str, str]]:
    s, peak = night["seconds"], night["peak_rss"]
    return [
        (f"{label}: landing s", _s(s["landing"])),
        (f"{label}: gates (great-expectations) s", _s(s["gates"])),
        (f"{label}: dbt s (of which dbt build itself)", f"{_s(s['dbt'])} ({_s(s.get('dbt_build_itself'))})"),
        (
            f"{label}: dbt thread-s: models / data tests / unit tests",
            _thread_seconds(night.get("dbt_build", {})),
        ),
        (f"{label}: publish s", _s(s["publish"])),
        (f"{label}: start-up and planning the run s", _s(s["before_run"])),
        (f"{label}: other s", _s(s["between_steps"] + s["after_run"] + s["other_steps"])),
        (f"**{label}: total s**", f"**{_s(s['total'])}**"),
        (
            f"{label}: peak memory (landing / dbt / publish)",
            f"{_gib(peak['total'])} ({_gib(peak['landing'])} / {_gib(peak['dbt'])} / {_gib(peak['publish'])})",
        ),
        (f"{label}: rows landed", _n(night["rows_landed"])),
        (f"{label}: rows / s", _n(night["rows_landed"] / s["total"])),
    ]


def _scale_rows(r: dict) -> list[tuple[str, str]]:
    if "skipped" in r or "error" in r:
        return [("status", r.get("skipped") or r["error"].splitlines()[0])]
    full, inc, floor = r["full"], r["incremental"], r["floor"]
    disk = r["disk_bytes"]
    rows = [
        ("status", "measured"),
        ("customers", _n(r["customers"])),
        ("days (full build + 1 incremental)", f"{r['days']} + 1"),
        ("rows in the lake", _n(r["lake_rows"])),
        ("of which web events", _n(r["web_events"])),
        (
            "extracts / lake / build DB / serving DB on disk",
            " / ".join(_gib(disk[k]) for k in ("extracts", "lake", "build_db", "serving_db")),
        ),
        ("generate s (peak memory)", f"{_s(r['generate']['seconds'])} ({_gib(r['generate']['peak_rss'])})"),
        *_night_rows("full build", full),
        *_night_rows("incremental night", inc),
        ("**floor**: DuckDB reads the lake once s", _s(floor["seconds"])),
        ("full build / floor", f"{full['seconds']['total'] / floor['seconds']:.1f}x"),
        ("incremental night / full build", f"{inc['seconds']['total'] / full['seconds']['total']:.1%}"),
    ]
    pg = r.get("postgres")
    if pg is None:
        rows.append(("**dbt build alone on DuckDB, and PostgreSQL**", "not run (`--no-postgres`)"))
        return rows
    rows += [
        (
            "**dbt build alone, DuckDB** s (peak memory)",
            f"{_s(r['dbt_duckdb']['seconds'])} ({_gib(r['dbt_duckdb']['peak_rss'])})",
        ),
        ("dbt build alone, DuckDB: what it ran", _ran(r["dbt_duckdb"])),
    ]
    if "error" in pg:
        rows.append(("**PostgreSQL**", f"failed: {pg['error'].splitlines()[0]}"))
    else:
        rows += [
            ("**PostgreSQL**: load the lake s", _s(pg["load"]["seconds"])),
            ("PostgreSQL: dbt build s", _s(pg["dbt"]["seconds"])),
            ("PostgreSQL: what it ran", _ran(pg["dbt"])),
            (
                "PostgreSQL: peak memory (client and server)",
                _gib(max(pg["load"]["peak_rss"], pg["dbt"]["peak_rss"])),
            ),
            ("PostgreSQL: data folder on disk", _gib(disk.get("postgres"))),
            (
                "PostgreSQL dbt build / DuckDB dbt build",
                f"{pg['dbt']['seconds'] / r['dbt_duckdb']['seconds']:.1f}x",
            ),
        ]
    return rows


def _targets(scales: dict) -> list[str]:
    done = {k: v for k, v in scales.items() if "full" in v}
    if not done:
        return []
    order = ["XS", "S", "M", "L"]
    at = "M" if "M" in done else max(done, key=order.index)
    r = done[at]
    full, inc = r["full"]["seconds"]["total"], r["incremental"]["seconds"]["total"]
    share, multiple = inc / full, full / r["floor"]["seconds"]
    peak = max(r["full"]["peak_rss"]["total"], r["incremental"]["peak_rss"]["total"])
    where = at if at == "M" else f"{at} (the targets are for M)"

    def verdict(ok: bool) -> str:
        return "pass" if ok else "**fail**"

    lines = [
        "| target | measured at | value | result |",
        "| --- | --- | ---: | --- |",
        f"| one incremental night at most 10% of the full build | {where} | {share:.1%} | {verdict(share <= INCREMENTAL_SHARE_MAX)} |",
        f"| full build within 5x the floor | {where} | {multiple:.1f}x | {verdict(multiple <= FLOOR_MULTIPLE_MAX)} |",
        f"| peak memory under 4 GiB | {where} | {_gib(peak)} | {verdict(peak < PEAK_RSS_MAX)} |",
    ]
    if "S" in done and "M" in done:
        s, m = done["S"], done["M"]
        for label, key, rows in (
            ("full build", "full", "lake_rows"),
            ("incremental night", "incremental", None),
        ):
            cost = m[key]["seconds"]["total"] / s[key]["seconds"]["total"]
            data = m[rows] / s[rows] if rows else m[key]["rows_landed"] / s[key]["rows_landed"]
            lines.append(
                f"| {label}: cost growing no faster than linearly | S -> M | time x{cost:.1f} for data x{data:.1f} | {verdict(cost <= data)} |"
            )
    else:
        lines.append("| cost growing no faster than linearly | S -> M | needs S and M in one run | - |")
    return lines


def render(run: dict) -> str:
    m = run["machine"]
    commit = run["commit"] + (" with uncommitted changes" if run["uncommitted_changes"] else "")
    busy = max(m["load_average_at_start"][0], m.get("load_average_at_end", [0])[0])
    header = [
        f"## {run['started_at']}, commit {commit}",
        "",
        f"`{run['command']}` on {m['cpu']}, {m['cores']} cores, {_gib(m['memory_bytes'])} RAM ({m['system']}, Python "
        f"{m['python']}), {run['seconds'] / 60:.0f} min in all. Load average {m['load_average_at_start'][0]:.1f} at "
        f"the start, {m.get('load_average_at_end', [0])[0]:.1f} at the end"
        + (": **other work was running, the times are inflated**." if busy > 0.5 else "."),
        "",
        ", ".join(f"{k} {v}" for k, v in run["versions"].items())
        + f"; DuckDB memory_limit {run['duckdb_memory_limit']}."
        + "".join(
            f" {s['postgres']['version'].split(' on ')[0]}, {', '.join(f'{k} {v}' for k, v in s['postgres']['settings'].items())}."
            for s in list(run["scales"].values())[-1:]
            if "version" in s.get("postgres", {})
        ),
    ]
    if run.get("note"):
        header += ["", f"Note: {run['note']}"]
    names = list(run["scales"])
    table_rows: dict[str, list[str]] = {}
    for name in names:
        for label, value in _scale_rows(run["scales"][name]):
            table_rows.setdefault(label, [""] * len(names))[names.index(name)] = value
    table = [
        "| | " + " | ".join(names) + " |",
        "| --- | " + " | ".join("---:" for _ in names) + " |",
        *(f"| {label} | " + " | ".join(values) + " |" for label, values in table_rows.items()),
    ]
    targets = _targets(run["scales"])
    slowest = [
        f"- slowest dbt nodes of the incremental night at {name} (seconds): "
        + ", ".join(f"{node} {seconds:g}" for node, seconds in r["incremental"]["dbt_build"]["slowest"][:6])
        + "."
        for name, r in run["scales"].items()
        if r.get("incremental", {}).get("dbt_build", {}).get("slowest")
    ]
    return "\n".join([*header, "", *table, "", *targets, "", *slowest, ""])


if __name__ == "__main__":
    write_markdown(Path(__file__).resolve().parent)
