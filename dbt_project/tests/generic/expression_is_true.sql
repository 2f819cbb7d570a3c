{#- Fails for every row where the SQL boolean `expression` is not true (rows filtered by `where` config). -#}
{% test expression_is_true(model, expression) %}

select *
from {{ model }}
where not coalesce({{ expression }}, false)

{% endtest %}
