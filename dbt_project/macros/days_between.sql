{#- Days from one timestamp to a later one, with decimals (one place); null if either is missing. -#}
{% macro days_between(start_at, end_at) -%}
    {{ round_number(dbt.datediff(start_at, end_at, 'second') ~ ' / 86400.0', 1) }}
{%- endmacro %}
