"""`python -m ingestion.demo --customers N --days D --seed S --out DIR [--start YYYY-MM-DD]`."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import date, datetime
from pathlib import Path

from ingestion.demo.generator import generate


def _date(text: str) -> date:
    return datetime.strptime(text, "%Y-%m-%d").date()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingestion.demo", description=__doc__)
    parser.add_argument("--customers", type=int, default=2000, help="customers signing up (default 2000)")
    parser.add_argument("--days", type=int, default=365, help="simulated days (default 365)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--start", type=_date, default=date(2025, 1, 1), help="first day (default 2025-01-01)"
    )
    parser.add_argument("--out", type=Path, required=True, help="extracts folder to write into")
    args = parser.parse_args(argv)
    if args.customers < 1 or args.days < 1:
        parser.error("--customers and --days must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    started = time.perf_counter()
    counts = generate(args.out, args.customers, args.days, args.seed, args.start)
    logging.info(
        "done: %s rows in %s (%.1f s)", f"{sum(counts.values()):,}", args.out, time.perf_counter() - started
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
