{#-
    Incremental builds (docs/incremental.md). Every incremental model keeps a `_loaded_at` column:
    the newest landing time among the rows it was built from. The newest value it holds is its
    high-water mark: rows landed after it are the night's new data.
-#}

{#- The newest `column` in this model's table, as a SQL timestamp literal. Read once at compile
    time (not as a subquery) so that the database can skip lake files and row groups by their
    statistics. Before the table has a row it is a floor that every landed row passes. -#}
{% macro high_water_mark(column='_loaded_at') -%}
    {%- set floor = "cast('1970-01-01 00:00:00' as timestamp)" -%}
    {%- if not execute -%}
        {{ return(floor) }}
    {%- endif -%}
    {%- set result = run_query('select max(' ~ column ~ ') from ' ~ this) -%}
    {%- set value = result.columns[0].values()[0] -%}
    {%- if value is none -%}
        {{ return(floor) }}
    {%- endif -%}
    {{ return("cast('" ~ value.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as timestamp)") }}
{%- endmacro %}

{#- The night's new rows of a staging model (CTE `rows`) plus, on an incremental build, the
    version already staged for each `key` sent again: that version may still be the latest, so
    both go into the model's "latest extract wins" ranking. The staged columns must be in the same
    order as the CTE's. -#}
{% macro with_staged_versions(rows, key) -%}
    select * from {{ rows }}
    {%- if is_incremental() %}

    union all

    select * from {{ this }}
    where {{ key }} in (select {{ key }} from {{ rows }})
    {%- endif %}
{%- endmacro %}
