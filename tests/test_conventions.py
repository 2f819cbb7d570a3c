"""The project's dbt conventions, checked by machine over the manifest (`make manifest`) and the built models.

Each check lists every violation as `<model>: <rule>`, so one run shows all there is to fix.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath

import dagster as dg
import duckdb
import pytest

from ingestion.settings import DBT_PROJECT_DIR, Paths

PROJECT = "cx_warehouse"
MART_PREFIXES = ("fct_", "dim_", "mart_")
# `not in (select ...)` keeps no row at all once the subquery holds a null, and PostgreSQL hashes the
# subquery only while it fits in work_mem, then runs it again for every row: at scale M that kept
# int_active_periods_derived running for over 13 minutes (docs/portability.md). `not exists` has neither problem.
NOT_IN_SUBQUERY = re.compile(r"\bnot\s+in\s*\(\s*select\b", re.IGNORECASE)


def load_manifest() -> dict:
    return json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def manifest() -> dict:
    return load_manifest()


def models(manifest: dict) -> list[dict]:
    return [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["package_name"] == PROJECT
    ]


def layer_path(model: dict) -> PurePosixPath:
    """The model's file below models/, e.g. staging/crm/stg_crm__customers.sql."""
    return PurePosixPath(model["original_file_path"]).relative_to("models")


def assert_none(violations: list[str]) -> None:
    assert not violations, f"{len(violations)} convention violation(s):\n" + "\n".join(sorted(violations))


def naming_violations(model: dict) -> list[str]:
    path = layer_path(model)
    name = model["name"]
    layer, folders = path.parts[0], path.parts[1:-1]
    uses_source = any(dep.startswith("source.") for dep in model["depends_on"]["nodes"])
    found = []
    if layer == "staging":
        if len(folders) != 1:
            found.append(f"{name}: staging models live in staging/<source>/")
        elif not re.fullmatch(rf"stg_{folders[0]}__[a-z0-9_]+s", name):
            found.append(f"{name}: a staging model is named stg_{folders[0]}__<entity>s (plural)")
    elif uses_source:
        found.append(f"{name}: only staging models select from source()")
    if layer == "intermediate":
        if len(folders) != 1:
            found.append(f"{name}: intermediate models live in intermediate/<area>/")
        if not name.startswith("int_"):
            found.append(f"{name}: an intermediate model is named int_<...>")
    if layer == "marts":
        if len(folders) != 1:
            found.append(f"{name}: marts live in marts/<area>/")
        if not name.startswith(MART_PREFIXES):
            found.append(f"{name}: a mart is named fct_, dim_ or mart_<...>")
    if layer not in ("staging", "intermediate", "marts"):
        found.append(f"{name}: models live under staging/, intermediate/ or marts/")
    return found


def sql_violations(model: dict) -> list[str]:
    hooks = [
        hook["sql"] for key in ("pre-hook", "post-hook") for hook in model.get("config", {}).get(key, [])
    ]
    if any(NOT_IN_SUBQUERY.search(code) for code in [model["raw_code"], *hooks]):
        return [f"{model['name']}: filter with not exists, not `not in (select ...)`"]
    return []


def test_no_model_filters_with_not_in_a_subquery(manifest: dict) -> None:
    assert_none([v for model in models(manifest) for v in sql_violations(model)])


def test_models_are_named_and_placed_for_their_layer(manifest: dict) -> None:
    assert_none([v for model in models(manifest) for v in naming_violations(model)])


def test_every_model_and_declared_column_is_described(manifest: dict) -> None:
    violations = []
    for model in models(manifest):
        name = model["name"]
        if not model["description"].strip():
            violations.append(f"{name}: the model has a description")
        if not model["columns"]:
            violations.append(f"{name}: the model declares its columns in YAML")
        for column in model["columns"].values():
            if not column["description"].strip():
                violations.append(f"{name}: column {column['name']} has a description")
    assert_none(violations)


def test_every_model_has_a_test(manifest: dict) -> None:
    tested = {
        node["attached_node"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test" and node.get("attached_node")
    }
    unit_tested = {test["model"] for test in manifest["unit_tests"].values()}
    violations = [
        f"{model['name']}: the model has at least one data test or unit test"
        for model in models(manifest)
        if model["unique_id"] not in tested and model["name"] not in unit_tested
    ]
    assert_none(violations)


def test_one_models_yaml_per_folder(manifest: dict) -> None:
    violations = []
    for model in models(manifest):
        folder = layer_path(model).parent
        expected = f"{PROJECT}://models/{folder}/_{folder.name}__models.yml"
        if model["patch_path"] != expected:
            violations.append(
                f"{model['name']}: documented in {expected.split('//')[1]}, not {model['patch_path']}"
            )
    yamls = {
        path.relative_to(DBT_PROJECT_DIR).as_posix() for path in (DBT_PROJECT_DIR / "models").rglob("*.yml")
    }
    for path in sorted(yamls):
        folder = PurePosixPath(path).parent
        # dbt Labs' naming: _<folder>__models.yml, and beside it _<folder>__sources.yml or _<folder>__exposures.yml
        if PurePosixPath(path).name not in {
            f"_{folder.name}__{kind}.yml" for kind in ("models", "sources", "exposures")
        }:
            violations.append(
                f"{path}: a folder's YAML is named _{folder.name}__models.yml (or __sources.yml, __exposures.yml)"
            )
    assert_none(violations)


def test_marts_enforce_contracts(manifest: dict) -> None:
    # dbt enforces contracts on SQL models only; the Python marts declare their types, which
    # tests/test_bi.py compares with what is served.
    violations = [
        f"{model['name']}: a mart has contract: {{enforced: true}}"
        for model in models(manifest)
        if layer_path(model).parts[0] == "marts"
        and model["language"] == "sql"
        and not model["config"]["contract"]["enforced"]
    ]
    assert_none(violations)


def test_every_built_column_is_documented(
    manifest: dict, demo_night: tuple[Paths, dg.ExecuteInProcessResult]
) -> None:
    """The YAML knows only the columns written there: compare with what the demo night built."""
    paths, _ = demo_night
    con = duckdb.connect(str(paths.build_db), read_only=True)
    built: dict[tuple[str, str], set[str]] = {}
    for schema, table, column in con.execute(
        "select table_schema, table_name, column_name from information_schema.columns"
    ).fetchall():
        built.setdefault((schema, table), set()).add(column)
    con.close()
    violations = []
    for model in models(manifest):
        columns = built.get((model["schema"], model["alias"]))
        if columns is None:
            violations.append(f"{model['name']}: the model was built by the demo night")
            continue
        for column in sorted(columns - set(model["columns"])):
            violations.append(f"{model['name']}: built column {column} is documented in YAML")
        for column in sorted(set(model["columns"]) - columns):
            violations.append(f"{model['name']}: documented column {column} is built")
    assert_none(violations)


def test_a_violation_names_the_model_and_the_rule() -> None:
    """The checks above report what they find: a badly placed, badly named model is caught."""
    stray = {
        "name": "customers_clean",
        "original_file_path": "models/staging/crm/customers_clean.sql",
        "depends_on": {"nodes": ["source.cx_warehouse.crm.customers"]},
    }
    assert naming_violations(stray) == [
        "customers_clean: a staging model is named stg_crm__<entity>s (plural)"
    ]
    mart_from_source = {
        "name": "customer_report",
        "original_file_path": "models/marts/core/customer_report.sql",
        "depends_on": {"nodes": ["source.cx_warehouse.crm.customers", "model.cx_warehouse.dim_customers"]},
    }
    assert naming_violations(mart_from_source) == [
        "customer_report: only staging models select from source()",
        "customer_report: a mart is named fct_, dim_ or mart_<...>",
    ]
    one_off_buyers = {
        "name": "int_one_off_buyers_derived",
        "raw_code": "select * from orders\nwhere customer_id NOT IN (\n    select customer_id from subscriptions\n)",
    }
    assert sql_violations(one_off_buyers) == [
        "int_one_off_buyers_derived: filter with not exists, not `not in (select ...)`"
    ]


def test_manifest_is_current() -> None:
    """The checks read target/manifest.json: it must describe the models on disk, not an older parse."""
    on_disk = {
        path.stem for path in Path(DBT_PROJECT_DIR / "models").rglob("*") if path.suffix in (".sql", ".py")
    }
    assert {model["name"] for model in models(load_manifest())} == on_disk
