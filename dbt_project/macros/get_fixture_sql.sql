{#-
    Override of dbt's `get_fixture_sql` so unit tests can mock lake sources on DuckDB.

    dbt types the rows of a unit-test fixture with the columns of the mocked relation. For a
    `source()` input it looks that relation up as database.schema.identifier (e.g.
    "cx_build"."crm"."customers") and ignores dbt-duckdb's `external_location`, so it finds no
    columns and fails with "Not able to get columns for unit test" (dbt-core issue #10292). For a
    source fixture on DuckDB this override reads the column types from the lake location the source
    reads (`lake_location`); every other fixture goes to dbt's own macro. The rest mirrors
    dbt's implementation (dbt-adapters global_project/macros/unit_test_sql/get_fixture_sql.sql).
-#}
{% macro get_fixture_sql(rows, column_name_to_data_types) %}
{%- if target.type != 'duckdb' or not model.source_name or column_name_to_data_types -%}
    {{ return(dbt.get_fixture_sql(rows, column_name_to_data_types)) }}
{%- endif -%}

{%- set location = lake_location(model.source_name, model.name) -%}
{%- set described = run_query('describe select * from ' ~ location) -%}
{%- set column_name_to_data_types = {} -%}
{%- set column_name_to_quoted = {} -%}
{%- for column in described.rows -%}
    {%- do column_name_to_data_types.update({column['column_name'] | lower: column['column_type']}) -%}
    {%- do column_name_to_quoted.update({column['column_name'] | lower: adapter.quote(column['column_name'])}) -%}
{%- endfor -%}
{%- if not column_name_to_data_types -%}
    {{ exceptions.raise_compiler_error("Not able to get columns for unit test '" ~ model.name ~ "' from " ~ location) }}
{%- endif -%}

{%- set default_row = {} -%}
{%- for column_name, column_type in column_name_to_data_types.items() -%}
    {%- do default_row.update({column_name: (safe_cast("null", column_type) | trim)}) -%}
{%- endfor -%}

{{ validate_fixture_rows(rows, row_number) }}

{%- set fixture_sql -%}
-- Fixture for {{ model.name }} (typed like {{ location }})
{% for row in rows -%}
{%- set formatted_row = format_row(row, column_name_to_data_types) -%}
{%- set default_row_copy = default_row.copy() -%}
{%- do default_row_copy.update(formatted_row) -%}
select
{%- for column_name, column_value in default_row_copy.items() %} {{ column_value }} as {{ column_name_to_quoted[column_name] }}{% if not loop.last -%}, {%- endif %}
{%- endfor %}
{%- if not loop.last %}
union all
{% endif %}
{%- endfor -%}
{%- if (rows | length) == 0 %}
select
{%- for column_name, column_value in default_row.items() %} {{ column_value }} as {{ column_name_to_quoted[column_name] }}{% if not loop.last -%}, {%- endif %}
{%- endfor %}
limit 0
{%- endif -%}
{%- endset -%}
{{ return(fixture_sql) }}
{% endmacro %}
