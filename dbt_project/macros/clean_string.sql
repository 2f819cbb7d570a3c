{#- A text column trimmed, with an empty (or all-blank) string turned into null. -#}
{% macro clean_string(column_name) -%}
    nullif(trim({{ column_name }}), '')
{%- endmacro %}

{#- Free text with email addresses and phone numbers masked, for text that reaches the serving database. -#}
{% macro mask_personal_data(column_name) -%}
    regexp_replace(
        regexp_replace({{ column_name }}, '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}', '[email]', 'g'),
        '\+?[0-9][0-9 ().-]{6,}[0-9]',
        '[phone]',
        'g'
    )
{%- endmacro %}
