"""Peak memory of a process tree: the summed RSS of a process and its descendants, sampled."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

INTERVAL = 0.2  # seconds between samples


def tree_rss(roots: Iterable[int]) -> int:
    """Bytes resident in the processes `roots` and all their descendants (gone ones count 0)."""
    total = 0
    seen: set[int] = set()
    for pid in roots:
        try:
            root = psutil.Process(pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for process in processes:
            if process.pid in seen:
                continue
            seen.add(process.pid)
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
    return total


@dataclass
class Sampler:
    """Samples `tree_rss` of some processes every INTERVAL seconds in a thread, with wall-clock times."""

    roots: list[int]
    samples: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), tree_rss(self.roots)))
            self._stop.wait(INTERVAL)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, start: float | None = None, end: float | None = None) -> int:
        """The highest sample between two wall-clock times (the whole run by default)."""
        inside = [
            rss
            for at, rss in self.samples
            if (start is None or at >= start - INTERVAL) and (end is None or at <= end + INTERVAL)
        ]
        return max(inside, default=0)


@dataclass
class Measured:
    seconds: float
    peak_rss: int
    returncode: int
    started_at: float
    sampler: Sampler
    timed_out: bool = False


def run_measured(
    command: list[str],
    env: Mapping[str, str],
    log: Path,
    cwd: Path | None = None,
    also_watch: Iterable[int] = (),
    timeout: float | None = None,
) -> Measured:
    """Run a command to completion with its output in `log`; time it and sample its tree's memory.

    `also_watch` adds processes outside the tree (a database server the command talks to). After
    `timeout` seconds the command and its descendants are killed (`timed_out`).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        started_at, started = time.time(), time.perf_counter()
        process = subprocess.Popen(command, env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        timed_out = False
        with Sampler([process.pid, *also_watch]) as sampler:
            try:
                returncode = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_tree(process.pid)
                returncode = process.wait()
        seconds = time.perf_counter() - started
    return Measured(seconds, sampler.peak(), returncode, started_at, sampler, timed_out)


def _kill_tree(pid: int) -> None:
    try:
        root = psutil.Process(pid)
        processes = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
