"""The dbt project as Dagster assets; dbt tests become asset checks."""

import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from ingestion.settings import DBT_PROJECT_DIR, Paths

cx_dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Under `dagster dev` this re-parses on load; elsewhere the manifest is prepared once by `make manifest`.
cx_dbt_project.prepare_if_dev()

# The venv's own dbt, so that no activated shell is needed.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


class Translator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        # Group by layer folder: staging, intermediate, marts.
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if dbt_resource_props["resource_type"] == "model" and len(fqn) > 2 else None


@dbt_assets(
    manifest=cx_dbt_project.manifest_path, project=cx_dbt_project, dagster_dbt_translator=Translator()
)
def cx_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    paths = Paths.from_env()
    paths.ensure()
    os.environ.update(paths.dbt_env())  # dbt inherits the environment; profiles.yml reads the paths from it
    yield from dbt.cli(["build"], context=context).stream()


dbt_resource = DbtCliResource(project_dir=cx_dbt_project, dbt_executable=DBT_EXECUTABLE)
