"""The dbt project as Dagster assets; dbt tests become asset checks."""

import contextlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from packaging import version

from ingestion.settings import DBT_PROJECT_DIR, Paths
from orchestration.run_record import save

cx_dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Under `dagster dev` this re-parses on load; elsewhere the manifest is prepared once by `make manifest`.
cx_dbt_project.prepare_if_dev()

# The venv's own dbt, so that no activated shell is needed.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
# What the last successful build leaves beside the build database (build_artifacts_dir): its manifest,
# holding the SQL each node ran, and dbt's parse cache for this warehouse's settings. The docs site is
# made from them rather than parsing and compiling every node again.
PARSE_CACHE = "partial_parse.msgpack"
BUILD_ARTIFACTS = ("manifest.json", PARSE_CACHE)
# What the last build did, kept whether it passed or not in `last_build/` beside them: what ran, with
# timings and test failures, and dbt's debug log, which rolls over into dbt.log.1... every 10 MB (the
# build's own target folder is thrown away after the run).
BUILD_RECORD = ("run_results.json", "dbt.log*")
# A run of some of the models (a backfill's daemon requests them as their parents land, or one chosen
# in the UI) runs only the tests whose every model it builds. dbt's default (eager) also runs a test
# that reads a model outside the run, against that model's last build or, on a new warehouse, no
# table at all. A whole build selects every test whatever this says.
SUBSET_TESTS = {"DBT_INDIRECT_SELECTION": "cautious"}


@contextlib.contextmanager
def dbt_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Set variables for the dbt processes started inside (profiles.yml reads the paths from them), then
    restore them: the process may go on to host other runs, which must not inherit this warehouse's paths."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def scratch_target(prefix: str, artifacts: Path, names: Sequence[str]) -> Iterator[tuple[Path, bool]]:
    """A throwaway dbt target folder, seeded with copies of the files `names` from `artifacts` when all of
    them are there; yields the folder and whether it was seeded. dbt writes into its target folder (a
    manifest of its own), so a step that starts from a build's artifacts works on copies of them."""
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        target = Path(folder)
        seeded = all((artifacts / name).exists() for name in names)
        if seeded:
            for name in names:
                shutil.copyfile(artifacts / name, target / name)
        yield target, seeded


class Translator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        # Group by layer folder: staging, intermediate, marts.
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if dbt_resource_props["resource_type"] == "model" and len(fqn) > 2 else None


@dbt_assets(
    manifest=cx_dbt_project.manifest_path,
    project=cx_dbt_project,
    dagster_dbt_translator=Translator(),
)
def cx_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    paths = Paths.from_env()
    paths.ensure()
    lake = lake_files(paths)
    changed = changed_since_last_build(paths, lake)
    if changed:
        context.log.info(
            f"{len(changed)} lake file(s) changed or removed since the last build (e.g. {changed[0]}), an "
            "erasure or a hand edit: rebuilding every incremental model from scratch."
        )
    else:
        # Recorded before the build: should it fail half-way, its models may already hold these files' rows.
        _record_lake(paths, lake)
    # The build runs in a target folder of its own, not one more `dbt_project/target/<id>/` per run,
    # seeded with this warehouse's parse cache from the last build: dbt's cache holds only for the
    # settings it was made with (the profile reads this warehouse's paths), so the project's own
    # cache would mean a full parse every night.
    with scratch_target("dbt-build-", build_artifacts_dir(paths), [PARSE_CACHE]) as (target, _):
        yield from _build(context, dbt, paths, target, full_refresh=bool(changed))
    if changed:
        _record_lake(paths, lake)


def _build(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, paths: Paths, target: Path, full_refresh: bool
) -> Iterator[Any]:
    with dbt_environment({**paths.dbt_env(), **SUBSET_TESTS}):
        # Unit tests check SQL logic on fixed inputs, not the night's data: `make test` runs them
        # (dbt Labs' advice: development and CI only). A flag rather than @dbt_assets(exclude=...),
        # which dagster-dbt drops when it runs a subset of the assets.
        build = dbt.cli(
            ["build", "--exclude-resource-type", "unit_test", *(["--full-refresh"] if full_refresh else [])],
            context=context,
            raise_on_error=False,
            target_path=target,
        )
    yield from build.stream()
    # Freshness is reported, not blocking: a late source shows in ops.source_freshness. It starts from
    # the build's parse, in a folder of its own, as it writes a manifest of its own.
    with (
        dbt_environment(paths.dbt_env()),
        scratch_target("dbt-freshness-", build.target_path, [PARSE_CACHE]) as (freshness_target, _),
    ):
        freshness = dbt.cli(["source", "freshness"], raise_on_error=False, target_path=freshness_target)
        freshness.wait()
        source_freshness = _freshness(context.run_id, freshness)
    _keep_build_record(build.target_path, paths)
    tests = _test_results(context.run_id, build.get_artifact("run_results.json"))
    save(paths, context.run_id, "dbt", {"dbt_test_results": tests, "source_freshness": source_freshness})
    if not build.is_successful():
        failed = [
            f"{t['unique_id']}: {t['status']} {t['message'] or ''}".strip()
            for t in tests
            if t["status"] in ("fail", "error")
        ]
        raise dg.Failure(
            description="dbt build failed; everything downstream of the failure was skipped and the serving "
            "database was not replaced.\n" + "\n".join(failed[:50]),
            metadata={"failed_tests": dg.MetadataValue.json(failed)},
            # A failing test is a fact about the data and fails again; an error (the build database
            # locked by another process, a full disk) may pass on a retry.
            allow_retries=not any(t["status"] == "fail" for t in tests),
        )
    _keep_build_artifacts(build.target_path, paths)


def build_artifacts_dir(paths: Paths) -> Path:
    return paths.build_db.parent / "dbt"


def last_build_record(paths: Paths) -> Path:
    return build_artifacts_dir(paths) / "last_build"


def _keep_build_record(target: Path, paths: Paths) -> None:
    record = last_build_record(paths)
    staged = record.with_name(f".{record.name}.tmp")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    for pattern in BUILD_RECORD:
        for file in target.glob(pattern):
            shutil.copyfile(file, staged / file.name)
    shutil.rmtree(record, ignore_errors=True)
    staged.rename(record)


def _keep_build_artifacts(target: Path, paths: Paths) -> None:
    folder = build_artifacts_dir(paths)
    folder.mkdir(parents=True, exist_ok=True)
    for name in BUILD_ARTIFACTS:
        staged = folder / f".{name}.tmp"
        shutil.copyfile(target / name, staged)
        os.replace(staged, folder / name)


def lake_files(paths: Paths) -> dict[str, str]:
    """Every Parquet file of the lake with its size and modification time."""
    return {
        p.relative_to(paths.lake).as_posix(): f"{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in sorted(paths.lake.rglob("*.parquet"))
    }


def _lake_state(paths: Paths) -> Path:
    return paths.build_db.with_name("lake_at_last_build.json")


def _record_lake(paths: Paths, lake: Mapping[str, str]) -> None:
    staged = _lake_state(paths).with_suffix(".tmp")
    staged.write_text(json.dumps(lake, sort_keys=True))
    os.replace(staged, _lake_state(paths))


def changed_since_last_build(paths: Paths, lake: Mapping[str, str]) -> list[str]:
    """Lake files that changed or went away since a build read them.

    Incremental models only ever add what landed after their newest row, so a lake that lost or
    changed rows (an erasure rewrites files; an operator may delete one) needs a full refresh, and
    the record is replaced only once a full refresh succeeded. Landing only adds files. A build
    database without a record of its lake is rebuilt in full too.
    """
    state = _lake_state(paths)
    if not state.exists():
        return ["(no record of the last build's lake)"] if paths.build_db.exists() else []
    before: dict[str, str] = json.loads(state.read_text())
    return sorted(f for f, signature in before.items() if lake.get(f) != signature)


def _test_results(run_id: str, run_results: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "run_id": run_id,
            "unique_id": r["unique_id"],
            "status": r["status"],
            "failures": r.get("failures"),
            "message": r.get("message"),
        }
        for r in run_results.get("results", [])
        if r["unique_id"].split(".")[0] == "test"
    ]


def _freshness(run_id: str, invocation: Any) -> list[dict[str, Any]]:
    try:
        sources = invocation.get_artifact("sources.json")
    except Exception:  # no artifact when freshness could not run at all; that is in the run's log
        return []
    return [
        {
            "run_id": run_id,
            "source": r["unique_id"].removeprefix("source.cx_warehouse."),
            "status": r["status"],
            "max_loaded_at": r.get("max_loaded_at"),
            "age_hours": round(r["max_loaded_at_time_ago_in_s"] / 3600, 1)
            if r.get("max_loaded_at_time_ago_in_s")
            else None,
        }
        for r in sources.get("results", [])
    ]


class CxDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt CLI resource without two start-up costs this project does not use.

    Before each dbt command dagster-dbt runs `dbt --version` (to tell dbt Fusion from dbt-core) and
    builds a dbt adapter in this process (used only to fetch row counts and column metadata, which
    no asset here asks for). At scale M on the 2-core machine they cost the night about 5 s
    (docs/incremental.md). The dbt here is the venv's own dbt-core, so its version is the installed
    package's. Both override private members of dagster-dbt: `tests/test_nightly.py` fails if
    an upgrade renames them.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


dbt_resource = CxDbtCliResource(project_dir=cx_dbt_project, dbt_executable=DBT_EXECUTABLE)
