{#-
    The DuckDB expression that reads one entity of the Parquet lake. It must match the
    `external_location` of the `_<source>__sources.yml` files (source YAML cannot call project
    macros, so the template is written there too); only used for unit-test fixtures.
-#}
{% macro lake_location(source_name, table_name) -%}
    read_parquet('{{ env_var('CX_LAKE_DIR', '../warehouse/lake') }}/{{ source_name }}/{{ table_name }}/*.parquet', union_by_name = true)
{%- endmacro %}
