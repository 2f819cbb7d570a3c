"""The floor: DuckDB reading every landed row and column of the lake once, in one query.

`python -m bench.floor LAKE MEMORY_LIMIT` prints the rows per entity and the query's seconds as JSON.
No build can read the lake faster than this, so a build's time is judged as a multiple of it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

from ingestion.contracts import ENTITIES


def floor_query(lake: Path) -> str:
    """Per entity: rows, and a hash of every value of every row (which makes DuckDB read them all)."""
    parts = []
    for entity in ENTITIES:
        pattern = str(entity.folder(lake) / "*.parquet").replace("'", "''")
        parts.append(
            f"select '{entity.qualified_name}' as entity, count(*) as row_count, "
            f"sum(hash(*columns(*))) as checksum from read_parquet('{pattern}')"
        )
    return "\nunion all\n".join(parts)


def measure(lake: Path, memory_limit: str) -> dict:
    with duckdb.connect(config={"memory_limit": memory_limit}) as con:
        started = time.perf_counter()
        rows = con.execute(floor_query(lake)).fetchall()
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": {entity: count for entity, count, _ in rows}}


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1]), sys.argv[2])))
