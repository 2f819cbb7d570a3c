"""Where the warehouse keeps its files. Every path can be moved with an environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


@dataclass(frozen=True)
class Paths:
    """The warehouse's folders.

    `CX_WAREHOUSE_DIR` (default `./warehouse`) holds everything; the others default to folders in it:
    `CX_EXTRACTS_DIR` (incoming extract files), `CX_LAKE_DIR` (landed Parquet), `CX_QUARANTINE_DIR`
    (rows that could not land, with the reason), `CX_REJECTED_DIR` (whole files that could not land,
    each with a reason file), `CX_BUILD_DB` (the database dbt builds into) and
    `CX_SERVING_DB` (the database BI tools read).
    """

    root: Path
    extracts: Path
    lake: Path
    quarantine: Path
    rejected: Path
    build_db: Path
    serving_db: Path

    @classmethod
    def from_env(cls, root: Path | str | None = None) -> Paths:
        base = Path(root or os.environ.get("CX_WAREHOUSE_DIR") or PROJECT_ROOT / "warehouse").resolve()

        def path(var: str, default: Path) -> Path:
            return Path(os.environ.get(var) or default).resolve()

        return cls(
            root=base,
            extracts=path("CX_EXTRACTS_DIR", base / "extracts"),
            lake=path("CX_LAKE_DIR", base / "lake"),
            quarantine=path("CX_QUARANTINE_DIR", base / "quarantine"),
            rejected=path("CX_REJECTED_DIR", base / "rejected"),
            build_db=path("CX_BUILD_DB", base / "build" / "cx_build.duckdb"),
            serving_db=path("CX_SERVING_DB", base / "cx.duckdb"),
        )

    def dbt_env(self) -> dict[str, str]:
        """The environment dbt reads its paths from (see `dbt_project/profiles.yml`)."""
        return {"CX_LAKE_DIR": str(self.lake), "CX_BUILD_DB": str(self.build_db)}

    def ensure(self) -> None:
        for folder in (
            self.extracts,
            self.lake,
            self.quarantine,
            self.rejected,
            self.build_db.parent,
            self.serving_db.parent,
        ):
            folder.mkdir(parents=True, exist_ok=True)
