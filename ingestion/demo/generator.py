"""Run the whole simulation and write the extracts."""

from __future__ import annotations

import logging
import random
import time
from datetime import date
from pathlib import Path

import numpy as np

from ingestion.demo.follow_up import follow_ups
from ingestion.demo.lifecycle import simulate
from ingestion.demo.output import build_extracts, write_extracts
from ingestion.demo.params import Params, Period
from ingestion.demo.people import make_customers
from ingestion.demo.web import simulate_web

log = logging.getLogger(__name__)


def generate(
    out: Path,
    customers: int = 2000,
    days: int = 365,
    seed: int = 42,
    start: date = date(2025, 1, 1),
    params: Params | None = None,
    progress: bool = True,
) -> dict[str, int]:
    """Simulate `customers` signing up over `days` from `start` and write their extracts under `out`.

    The same arguments always give byte-identical files. Returns the rows written per entity.
    """
    if customers < 1 or days < 1:
        raise ValueError("customers and days must be at least 1")
    params = params or Params()
    period = Period(start, days)
    # Independent streams per phase, so a change in one phase does not reshuffle the others (a
    # SeedSequence's n-th child is the same however many are spawned).
    people_seed, life_seed, web_seed, follow_up_seed = np.random.SeedSequence(seed).spawn(4)
    started = time.perf_counter()
    population = make_customers(
        np.random.default_rng(people_seed), _python_rng(people_seed), period, customers, params
    )
    world = simulate(_python_rng(life_seed), params, period, population, progress)
    outbound = follow_ups(_python_rng(follow_up_seed), params, period, world)
    world.tickets += outbound
    log.info(
        "simulated %s customers over %s days, %s follow-ups (%.1f s)",
        f"{customers:,}",
        days,
        f"{len(outbound):,}",
        time.perf_counter() - started,
    )
    started = time.perf_counter()
    web = simulate_web(np.random.default_rng(web_seed), params, period, world)
    log.info("simulated %s web events (%.1f s)", f"{len(web.occurred_at):,}", time.perf_counter() - started)
    return write_extracts(Path(out), build_extracts(world, web, period))


def _python_rng(seed: np.random.SeedSequence) -> random.Random:
    return random.Random(int(seed.generate_state(1, np.uint64)[0]))
