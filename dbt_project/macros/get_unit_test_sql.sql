{#-
    PostgreSQL override of dbt's `get_unit_test_sql`: unit tests compare numbers by value, not by
    how many decimals they carry.

    dbt compares the actual and expected rows of a unit test as text. On PostgreSQL a `numeric`
    result keeps the scale of its inputs (a sum of amounts is 75.00) while the expected value,
    cast to the same unconstrained `numeric`, keeps the scale it was written with (75 or 75.0), so
    equal numbers would differ. The model's numeric columns are therefore compared as
    `trim_scale(x::numeric)` on both sides (an expected SQL fixture may give them as doubles). Otherwise this is dbt's own macro (dbt-adapters
    global_project/macros/materializations/tests/helpers.sql); other adapters keep it unchanged.
-#}
{% macro postgres__get_unit_test_sql(main_sql, expected_fixture_sql, expected_column_names) -%}
{%- set numeric_columns = [] -%}
{%- for column in get_column_schema_from_query(main_sql) -%}
    {%- if column.dtype | lower in ('numeric', 'decimal') -%}
        {%- do numeric_columns.append(column.quoted) -%}
    {%- endif -%}
{%- endfor -%}
-- Build actual result given inputs
with dbt_internal_unit_test_actual as (
  select
    {% for column_name in expected_column_names -%}
    {{ 'trim_scale(' ~ column_name ~ '::numeric) as ' ~ column_name if column_name in numeric_columns else column_name }},
    {% endfor -%}
    {{ dbt.string_literal("actual") }} as {{ adapter.quote("actual_or_expected") }}
  from (
    {{ main_sql }}
  ) _dbt_internal_unit_test_actual
),
-- Build expected result
dbt_internal_unit_test_expected as (
  select
    {% for column_name in expected_column_names -%}
    {{ 'trim_scale(' ~ column_name ~ '::numeric) as ' ~ column_name if column_name in numeric_columns else column_name }},
    {% endfor -%}
    {{ dbt.string_literal("expected") }} as {{ adapter.quote("actual_or_expected") }}
  from (
    {{ expected_fixture_sql }}
  ) _dbt_internal_unit_test_expected
)
-- Union actual and expected results
select * from dbt_internal_unit_test_actual
union all
select * from dbt_internal_unit_test_expected
{%- endmacro %}
