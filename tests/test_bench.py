"""The bench's own machinery: a command that runs too long is stopped, and what it was doing is named."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil

from bench.memory import run_measured
from bench.peer import unfinished_nodes

ESC = "\x1b"
# Lines in the form dbt 1.11 prints them (colours included), as in the PostgreSQL peer's output at scale M.
DBT_OUTPUT = f"""\
{ESC}[0m08:54:28  206 of 413 START sql table model intermediate.int_active_periods_derived ........ [RUN]
{ESC}[0m08:56:09  254 of 413 START unit_test fct_support_tickets::fct_support_tickets_counts_business_minutes  [RUN]
{ESC}[0m08:56:09  254 of 413 PASS fct_support_tickets::fct_support_tickets_counts_business_minutes  [{ESC}[32mPASS{ESC}[0m in 0.29s]
{ESC}[0m08:56:10  256 of 413 START sql incremental model marts.fct_support_tickets ............... [RUN]
{ESC}[0m08:56:12  256 of 413 OK created sql incremental model marts.fct_support_tickets .......... [{ESC}[32mINSERT 0 12{ESC}[0m in 2.01s]
{ESC}[0m09:00:40  357 of 413 START test unique_combination_of_columns_mart_web_engagement_period_type__period_start__channel_group__device  [RUN]
"""


def test_the_nodes_still_running_are_read_from_dbts_output() -> None:
    assert unfinished_nodes(DBT_OUTPUT) == [
        "sql table model intermediate.int_active_periods_derived",
        "test unique_combination_of_columns_mart_web_engagement_period_type__period_start__channel_group__device",
    ]


def test_a_command_past_its_time_is_stopped_with_its_children(tmp_path: Path) -> None:
    # A parent that starts a child and waits for it, as dbt waits on its threads.
    script = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import time; time.sleep(120)'])"
    measured = run_measured([sys.executable, "-c", script], {}, tmp_path / "out.log", timeout=2)
    assert measured.timed_out
    assert 2 <= measured.seconds < 30
    assert measured.returncode != 0
    left = [
        p for p in psutil.process_iter(["cmdline"]) if "time.sleep(120)" in " ".join(p.info["cmdline"] or [])
    ]
    assert left == []


def test_a_command_within_its_time_runs_to_the_end(tmp_path: Path) -> None:
    measured = run_measured([sys.executable, "-c", "print('done')"], {}, tmp_path / "out.log", timeout=60)
    assert not measured.timed_out and measured.returncode == 0
    assert (tmp_path / "out.log").read_text() == "done\n"
