"""The documented contracts are the ones the code enforces."""

from __future__ import annotations

from ingestion.contracts import ENTITIES, FILE_NAME, LINEAGE_COLUMNS, markdown
from ingestion.settings import PROJECT_ROOT


def test_docs_show_the_contracts_in_force() -> None:
    doc = (PROJECT_ROOT / "docs" / "extracts.md").read_text()
    assert markdown() in doc, "regenerate the tables with `python -m ingestion.contracts`"
    for column in LINEAGE_COLUMNS:
        assert f"`{column.name}`" in doc


def test_every_entity_has_its_key_as_a_required_column_and_a_valid_file_name() -> None:
    for entity in ENTITIES:
        assert entity.column(entity.key).required
        assert FILE_NAME.match(entity.file_name("2025-01-31"))
        assert len(set(entity.column_names)) == len(entity.column_names)


def test_quality_docs_list_every_expectation() -> None:
    from expectations.suites import markdown as suites_markdown

    assert suites_markdown() in (PROJECT_ROOT / "docs" / "quality.md").read_text()
