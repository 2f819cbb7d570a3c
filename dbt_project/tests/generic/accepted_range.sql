{#-
    Fails for every non-null value of `column_name` outside [min_value, max_value] (bounds
    inclusive unless inclusive=false). Either bound may be omitted. Use the `where` config to test
    a subset, e.g. NPS scores only.
-#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
{%- if min_value is none and max_value is none -%}
    {{ exceptions.raise_compiler_error("accepted_range needs min_value, max_value or both") }}
{%- endif -%}
{%- set lower_op = '>=' if inclusive else '>' -%}
{%- set upper_op = '<=' if inclusive else '<' -%}

with validation as (

    select {{ column_name }} as tested_value
    from {{ model }}
    where {{ column_name }} is not null

),

validation_errors as (

    select tested_value
    from validation
    where not (
        1 = 1
        {%- if min_value is not none %}
        and tested_value {{ lower_op }} {{ min_value }}
        {%- endif %}
        {%- if max_value is not none %}
        and tested_value {{ upper_op }} {{ max_value }}
        {%- endif %}
    )

)

select * from validation_errors

{% endtest %}
