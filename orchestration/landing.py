"""One landing asset per source: new extract files -> typed Parquet in the lake."""

from collections.abc import Iterator

import dagster as dg

from ingestion.contracts import SOURCES, entities_of
from ingestion.landing import land_source
from ingestion.settings import Paths


def landing_asset(source: str) -> dg.AssetsDefinition:
    entities = entities_of(source)
    # The keys are those dagster-dbt gives the dbt sources (`[source, table]`), so staging depends on them.
    specs = [
        dg.AssetSpec([e.source, e.name], group_name="landing", description=e.description, kinds={"parquet"})
        for e in entities
    ]

    @dg.multi_asset(name=f"land_{source}", specs=specs)
    def land(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
        report = land_source(Paths.from_env(), source)
        for entity in entities:
            totals = report.totals(entity.qualified_name)
            warnings = [w for r in report.results if r.entity == entity.qualified_name for w in r.warnings]
            yield dg.MaterializeResult(
                asset_key=[entity.source, entity.name],
                metadata={**totals, "warnings": dg.MetadataValue.json(warnings)},
            )
        if report.errors:
            for error in report.errors:
                context.log.error(str(error))
            raise dg.Failure(
                description=f"{len(report.errors)} {source} extract file(s) rejected:\n"
                + "\n".join(str(e) for e in report.errors),
                metadata={"rejected": dg.MetadataValue.json([vars(e) for e in report.errors])},
            )

    return land


landing_assets = [landing_asset(source) for source in SOURCES]
