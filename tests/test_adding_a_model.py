"""docs/adding-a-model.md, followed literally in a copy of the project: its blocks are applied and run in order.

A fenced block whose info string has `file=<path>` is written to that file (whole, appended with
`append`, or inserted before the first match of `before=<regex>`); a `bash run` block is run with
bash from the copy's root. Then slim CI is checked: one model changed after a saved state builds
that model, its children and their tests, nothing else.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from ingestion.settings import PROJECT_ROOT

GUIDE = PROJECT_ROOT / "docs" / "adding-a-model.md"
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```\n", re.S | re.M)


@dataclass(frozen=True)
class Step:
    info: dict[str, str]
    body: str


def steps(markdown: str) -> list[Step]:
    """The guide's blocks that the test applies: files to write and bash blocks marked `run`."""
    found = []
    for match in FENCE.finditer(markdown):
        words = shlex.split(match["info"], posix=False)
        info = {w.split("=", 1)[0]: w.split("=", 1)[1] if "=" in w else "" for w in words[1:]}
        if "file" in info or (words[:1] == ["bash"] and "run" in info):
            found.append(Step(info, match["body"]))
    return found


def apply(step: Step, root: Path, env: dict[str, str]) -> None:
    if "file" not in step.info:
        result = subprocess.run(
            ["bash", "-e", "-c", step.body], cwd=root, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, (
            f"guide step failed:\n{step.body}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
        return
    path = root / step.info["file"]
    path.parent.mkdir(parents=True, exist_ok=True)
    if "append" in step.info:
        path.write_text(path.read_text() + step.body)
    elif "before" in step.info:
        text = path.read_text()
        match = re.search(step.info["before"].replace("\\n", "\n"), text, re.M)
        assert match, f"{step.info['file']}: the guide inserts before {step.info['before']!r}, not found"
        path.write_text(text[: match.start()] + step.body + text[match.start() :])
    else:
        path.write_text(step.body)


def copy_project(target: Path) -> None:
    """The project's files as git lists them (tracked and new, not ignored), with their modification times so
    that make sees the venv as installed, and the venv itself."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        source = PROJECT_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(Path(sys.executable).parent.parent)


def run_results(root: Path) -> set[str]:
    results = json.loads((root / "dbt_project" / "target" / "ci-slim" / "run_results.json").read_text())
    return {r["unique_id"] for r in results["results"]}


def test_the_guide_builds_in_a_copy_and_slim_ci_builds_only_the_change(tmp_path: Path) -> None:
    root = tmp_path / "project"
    copy_project(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CX_", "DAGSTER_", "DBT_"))}
    guide = steps(GUIDE.read_text())
    # What the guide says it does: a source entity, a staging model, a mart, and the commands.
    assert {s.info["file"] for s in guide if "file" in s.info} >= {
        "ingestion/contracts.py",
        "dbt_project/models/staging/support/_support__sources.yml",
        "dbt_project/models/staging/support/stg_support__agents.sql",
        "dbt_project/models/marts/support/dim_agents.sql",
    }
    for step in guide:
        apply(step, root, env)

    # The guide's own build: the served numbers of dim_agents, counted here from the files. The
    # guide's agent file (4 agents, agt_99 hired after every ticket) and the demo's ticket files:
    # the latest version of each ticket names its agent.
    extracts = root / "warehouse" / "extracts" / "support" / "tickets"
    con = duckdb.connect()
    expected = dict(
        con.execute(
            f"""
            select agent_id, count(*) from (
                select ticket_id, arg_max(agent_id, updated_at::timestamptz) as agent_id
                from read_csv('{extracts}/*.csv', all_varchar = true) group by ticket_id
            ) where agent_id in ('agt_01', 'agt_02', 'agt_03', 'agt_99') group by agent_id
            """
        ).fetchall()
    )
    build = duckdb.connect(str(root / "warehouse" / "build" / "cx_build.duckdb"), read_only=True)
    built = dict(build.execute("select agent_id, tickets_assigned from marts.dim_agents").fetchall())
    build.close()
    assert built == {agent: expected.get(agent, 0) for agent in ("agt_01", "agt_02", "agt_03", "agt_99")}
    assert built["agt_99"] == 0

    # The guide's `make ci-slim` built the two new models (new since the saved state) and their tests.
    first = run_results(root)
    assert {r for r in first if r.startswith("model.")} == {
        "model.cx_warehouse.stg_support__agents",
        "model.cx_warehouse.dim_agents",
    }

    # Slim CI after one change: save the state, change the staging model, build what changed.
    subprocess.run(["make", "state"], cwd=root, env=env, check=True, capture_output=True)
    model = root / "dbt_project" / "models" / "staging" / "support" / "stg_support__agents.sql"
    model.write_text(
        model.read_text().replace("{{ clean_string('full_name') }}", "upper({{ clean_string('full_name') }})")
    )
    result = subprocess.run(["make", "ci-slim"], cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    # Expected from the guide's YAML: the changed model, its one child, and the tests on either.
    ran = run_results(root)
    assert {r.rsplit(".", 1)[0] if r.startswith("test.") else r for r in ran} == {
        "model.cx_warehouse.stg_support__agents",
        "model.cx_warehouse.dim_agents",
        "unit_test.cx_warehouse.stg_support__agents.stg_support__agents_keeps_latest_version",
        "test.cx_warehouse.unique_stg_support__agents_agent_id",
        "test.cx_warehouse.not_null_stg_support__agents_agent_id",
        "test.cx_warehouse.accepted_values_stg_support__agents_team__billing__technical__general",
        "test.cx_warehouse.not_null_stg_support__agents_hired_at",
        "test.cx_warehouse.unique_dim_agents_agent_id",
        "test.cx_warehouse.not_null_dim_agents_agent_id",
        "test.cx_warehouse.not_null_dim_agents_tickets_assigned",
        "test.cx_warehouse.accepted_range_dim_agents_tickets_assigned__0",
    }


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ("yaml file=a.yml before=^unit_tests:", {"file": "a.yml", "before": "^unit_tests:"}),
        ("bash run", {"run": ""}),
    ],
)
def test_block_markers(info: str, expected: dict[str, str]) -> None:
    assert steps(f"```{info}\nx\n```\n")[0].info == expected
