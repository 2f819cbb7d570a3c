{#- An email address as a comparable key: trimmed and lower-cased; an empty string becomes null. -#}
{% macro normalize_email(column_name) -%}
    nullif(lower(trim({{ column_name }})), '')
{%- endmacro %}
