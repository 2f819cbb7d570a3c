{#-
    Small cross-database macros for what dbt's own (dbt.datediff, dbt.dateadd, dbt.any_value, ...)
    do not cover, so that the models build on DuckDB and PostgreSQL alike (docs/portability.md).
    Each dispatches on the adapter: `duckdb__` keeps the DuckDB SQL the models were written in,
    `default__` is standard SQL as PostgreSQL runs it.
-#}

{#- A double-precision float type, for casts before a division or a rounding. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'cx_warehouse')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}

{% macro trino__type_double() -%}
    double
{%- endmacro %}


{#- round(x, places) for any number: PostgreSQL only rounds numeric to decimal places. -#}
{% macro round_number(expression, places) -%}
    {{ return(adapter.dispatch('round_number', 'cx_warehouse')(expression, places)) }}
{%- endmacro %}

{% macro default__round_number(expression, places) -%}
    round(cast({{ expression }} as numeric), {{ places }})
{%- endmacro %}

{% macro duckdb__round_number(expression, places) -%}
    round({{ expression }}, {{ places }})
{%- endmacro %}


{#- The median (interpolated between the two middle values) of a numeric expression; an aggregate. -#}
{% macro median(expression) -%}
    {{ return(adapter.dispatch('median', 'cx_warehouse')(expression)) }}
{%- endmacro %}

{% macro default__median(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__median(expression) -%}
    median({{ expression }})
{%- endmacro %}


{#-
    The mean of numbers with at most `places` decimals, summed exactly as decimals. A float sum
    depends on the order the rows arrive in, which varies with the threads, so the same rows could
    give a mean differing in its last bits, and a rounded mean on a boundary either of two values.
-#}
{% macro exact_avg(expression, places) -%}
    avg(cast({{ expression }} as decimal(18, {{ places }})))
{%- endmacro %}


{#-
    The `value` of the row with the smallest (arg_min) or largest (arg_max) `order_by`, an aggregate;
    `order_by` is one expression or a list of them (compared in order, the first deciding). Rows
    where `value` (or a single `order_by`) is null are skipped, like DuckDB's arg_min/arg_max, and
    so are rows failing the optional `where` condition (an aggregate FILTER); with `keep_nulls` a
    null `value` counts (null when that row wins, like DuckDB's arg_min_null). Ties on `order_by`
    pick any of the rows: make it unique when the choice matters. On DuckDB, keep `order_by` one
    number or time over many groups: a state's strings (a key of several columns, as a sort key,
    or a string over 12 bytes) are held in memory DuckDB cannot spill (docs/incremental.md).
-#}
{% macro arg_min(value, order_by, where=none, keep_nulls=false) -%}
    {{ return(adapter.dispatch('arg_min_max', 'cx_warehouse')('min', value, order_by, where, keep_nulls)) }}
{%- endmacro %}

{% macro arg_max(value, order_by, where=none, keep_nulls=false) -%}
    {{ return(adapter.dispatch('arg_min_max', 'cx_warehouse')('max', value, order_by, where, keep_nulls)) }}
{%- endmacro %}

{% macro default__arg_min_max(kind, value, order_by, where, keep_nulls) -%}
    {%- set keys = [order_by] if order_by is string else order_by -%}
    {%- set direction = '' if kind == 'min' else ' desc nulls last' -%}
    (array_agg({{ value }} order by
        {%- for key in keys %} {{ key }}{{ direction }}{{ ',' if not loop.last }}{% endfor %})
        filter (where {{ 'true' if keep_nulls else value ~ ' is not null' }}
            {%- if keys | length == 1 %} and {{ keys[0] }} is not null{% endif %}
            {%- if where %} and ({{ where }}){% endif %}))[1]
{%- endmacro %}

{% macro duckdb__arg_min_max(kind, value, order_by, where, keep_nulls) -%}
    {%- set keys = [order_by] if order_by is string else order_by -%}
    arg_{{ kind }}{{ '_null' if keep_nulls }}({{ value }}, {% if keys | length > 1 %}({{ keys | join(', ') }}){% else %}{{ keys[0] }}{% endif %})
    {%- if where %} filter (where {{ where }}){% endif %}
{%- endmacro %}


{#-
    `value`s joined by `separator` in the order of `order_by` (one expression or a list compared in
    order), an aggregate; nulls and rows failing the optional `where` are skipped; null when no row
    is left. On DuckDB an ORDER BY inside an aggregate buffers every row of every group in memory
    and cannot spill (`mart_customer_journey` ran out of 3 GB on 2.9 million path steps): a plain
    `list` of (order, value) pairs, sorted per group, holds a fraction of that.
-#}
{% macro ordered_string_agg(value, separator, order_by, where=none) -%}
    {{ return(adapter.dispatch('ordered_string_agg', 'cx_warehouse')(value, separator, order_by, where)) }}
{%- endmacro %}

{% macro default__ordered_string_agg(value, separator, order_by, where) -%}
    {%- set keys = [order_by] if order_by is string else order_by -%}
    string_agg({{ value }}, {{ separator }} order by {{ keys | join(', ') }})
    {%- if where %} filter (where {{ where }}){% endif %}
{%- endmacro %}

{% macro duckdb__ordered_string_agg(value, separator, order_by, where) -%}
    {%- set keys = [order_by] if order_by is string else order_by -%}
    array_to_string(
        list_transform(
            list_sort(list((({{ keys | join(', ') }}), {{ value }}))
                filter (where {{ value }} is not null{% if where %} and ({{ where }}){% endif %})),
            pair -> pair[2]
        ),
        {{ separator }}
    )
{%- endmacro %}

{#- Whether a string fully matches a regular expression (kept to syntax both engines share), optionally ignoring case. -#}
{% macro regexp_full_match(expression, pattern, ignore_case=false) -%}
    {{ return(adapter.dispatch('regexp_full_match', 'cx_warehouse')(expression, pattern, ignore_case)) }}
{%- endmacro %}

{% macro default__regexp_full_match(expression, pattern, ignore_case) -%}
    ({{ expression }} {{ '~*' if ignore_case else '~' }} ('^(?:' || {{ pattern }} || ')$'))
{%- endmacro %}

{% macro duckdb__regexp_full_match(expression, pattern, ignore_case) -%}
    regexp_full_match({{ expression }}, {{ pattern }}{{ ", 'i'" if ignore_case }})
{%- endmacro %}


{#-
    A regular-expression class of the characters that separate words: anything but a letter or a
    digit. PostgreSQL has no \pL/\pN; its [:alnum:] follows the database locale (ASCII only under
    the C locale).
-#}
{% macro non_word_characters() -%}
    {{ return(adapter.dispatch('non_word_characters', 'cx_warehouse')()) }}
{%- endmacro %}

{% macro default__non_word_characters() -%}
    '[^[:alnum:]]+'
{%- endmacro %}

{% macro duckdb__non_word_characters() -%}
    '[^\pL\pN]+'
{%- endmacro %}


{#- The English weekday name of a date, lower case ('monday'). -#}
{% macro day_name(date_expression) -%}
    {{ return(adapter.dispatch('day_name', 'cx_warehouse')(date_expression)) }}
{%- endmacro %}

{% macro default__day_name(date_expression) -%}
    to_char({{ date_expression }}, 'FMday')
{%- endmacro %}

{% macro duckdb__day_name(date_expression) -%}
    lower(dayname({{ date_expression }}))
{%- endmacro %}


{#- A date as 'YYYY-MM' text. -#}
{% macro year_month(date_expression) -%}
    {{ return(adapter.dispatch('year_month', 'cx_warehouse')(date_expression)) }}
{%- endmacro %}

{% macro default__year_month(date_expression) -%}
    to_char({{ date_expression }}, 'YYYY-MM')
{%- endmacro %}

{% macro duckdb__year_month(date_expression) -%}
    strftime({{ date_expression }}, '%Y-%m')
{%- endmacro %}


{#- The SHA-256 of a text's UTF-8 bytes, as 64 lower-case hex digits. -#}
{% macro sha256_hex(expression) -%}
    {{ return(adapter.dispatch('sha256_hex', 'cx_warehouse')(expression)) }}
{%- endmacro %}

{% macro default__sha256_hex(expression) -%}
    encode(sha256(convert_to({{ expression }}, 'UTF8')), 'hex')
{%- endmacro %}

{% macro duckdb__sha256_hex(expression) -%}
    sha256({{ expression }})
{%- endmacro %}


{#- The number of elements of an array (a DuckDB list). -#}
{% macro array_size(expression) -%}
    {{ return(adapter.dispatch('array_size', 'cx_warehouse')(expression)) }}
{%- endmacro %}

{% macro default__array_size(expression) -%}
    cardinality({{ expression }})
{%- endmacro %}

{% macro duckdb__array_size(expression) -%}
    len({{ expression }})
{%- endmacro %}


{#-
    Whether this target runs the project's Python models: dbt-duckdb does, dbt-postgres has none.
    The Python models and the SQL models that need them are enabled with the same test
    (`enabled: "{{ target.type == 'duckdb' }}"` in their folder's yml).
-#}
{% macro python_models_enabled() -%}
    {{ return(target.type == 'duckdb') }}
{%- endmacro %}


{#- Seconds in an interval, with fractions. -#}
{% macro epoch_seconds(interval_expression) -%}
    {{ return(adapter.dispatch('epoch_seconds', 'cx_warehouse')(interval_expression)) }}
{%- endmacro %}

{% macro default__epoch_seconds(interval_expression) -%}
    extract(epoch from {{ interval_expression }})
{%- endmacro %}

{% macro duckdb__epoch_seconds(interval_expression) -%}
    epoch({{ interval_expression }})
{%- endmacro %}


{#- The text of the first capture group of a regular expression in a string; null or '' when it does not match. -#}
{% macro regexp_first_group(expression, pattern) -%}
    {{ return(adapter.dispatch('regexp_first_group', 'cx_warehouse')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regexp_first_group(expression, pattern) -%}
    substring({{ expression }} from {{ pattern }})
{%- endmacro %}

{% macro duckdb__regexp_first_group(expression, pattern) -%}
    regexp_extract({{ expression }}, {{ pattern }}, 1)
{%- endmacro %}


{#-
    A select turning `columns` of `relation` into rows (`name_column`: the column's name,
    `value_column`: its value), with the `keys` columns kept and null values dropped, like
    DuckDB's UNPIVOT; elsewhere a lateral VALUES list.
-#}
{% macro unpivot_not_null(relation, keys, columns, name_column, value_column) -%}
    {{ return(adapter.dispatch('unpivot_not_null', 'cx_warehouse')(relation, keys, columns, name_column, value_column)) }}
{%- endmacro %}

{% macro default__unpivot_not_null(relation, keys, columns, name_column, value_column) -%}
    select
        {%- for key in keys %} {{ relation }}.{{ key }},{% endfor %}
        unpivoted.{{ name_column }},
        unpivoted.{{ value_column }}
    from {{ relation }}
    cross join lateral (
        values
        {%- for column in columns %}
            ('{{ column }}', {{ relation }}.{{ column }}){{ ',' if not loop.last }}
        {%- endfor %}
    ) as unpivoted ({{ name_column }}, {{ value_column }})
    where unpivoted.{{ value_column }} is not null
{%- endmacro %}

{% macro duckdb__unpivot_not_null(relation, keys, columns, name_column, value_column) -%}
    select {{ (keys + [name_column, value_column]) | join(', ') }}
    from {{ relation }}
    unpivot ({{ value_column }} for {{ name_column }} in ({{ columns | join(', ') }}))
{%- endmacro %}
