"""Where a `dbt build`'s time went, from its run_results.json."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

SLOWEST = 10


def dbt_timing(run_results: Path) -> dict:
    """What ran and how it ended, thread-seconds per resource type, and the slowest nodes."""
    results = json.loads(run_results.read_text())["results"]
    seconds: Counter[str] = Counter()
    for r in results:
        seconds[r["unique_id"].split(".")[0]] += r["execution_time"]
    slowest = sorted(results, key=lambda r: -r["execution_time"])[:SLOWEST]
    return {
        "ran": dict(sorted(Counter(r["unique_id"].split(".")[0] for r in results).items())),
        "statuses": dict(sorted(Counter(r["status"] for r in results).items())),
        # summed over dbt's threads, so they add up to more than the wall time
        "thread_seconds": {kind: round(s, 1) for kind, s in sorted(seconds.items())},
        "slowest": [[_name(r["unique_id"]), round(r["execution_time"], 1)] for r in slowest],
    }


def _name(unique_id: str) -> str:
    """`model mart_clv_model`, `unit_test dim_customers_lifecycle_stages`: the kind and the node's own name."""
    parts = unique_id.split(".")
    return f"{parts[0]} {parts[-1]}"
