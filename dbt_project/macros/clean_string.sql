{#- A text column trimmed, with an empty (or all-blank) string turned into null. -#}
{% macro clean_string(column_name) -%}
    nullif(trim({{ column_name }}), '')
{%- endmacro %}
