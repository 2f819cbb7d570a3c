"""Shared fixtures: an isolated warehouse folder per test, and a prepared dbt manifest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ingestion.settings import DBT_PROJECT_DIR, Paths

BIN = Path(sys.executable).parent
PATH_VARS = (
    "CX_WAREHOUSE_DIR",
    "CX_EXTRACTS_DIR",
    "CX_LAKE_DIR",
    "CX_QUARANTINE_DIR",
    "CX_BUILD_DB",
    "CX_SERVING_DB",
)


def pytest_configure(config: pytest.Config) -> None:
    # orchestration.dbt loads the manifest when imported; `make test` prepares it, a bare pytest may not have.
    if not (DBT_PROJECT_DIR / "target" / "manifest.json").exists():
        subprocess.run([str(BIN / "dbt"), "parse", "--profiles-dir", "."], cwd=DBT_PROJECT_DIR, check=True)


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """A fresh warehouse folder, with every path variable pointing into it."""
    for var in PATH_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CX_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    paths = Paths.from_env()
    paths.ensure()
    return paths
