{#-
    The metric definitions of docs DOMAIN.md, each written once and used by every model that
    reports it. Scores: NPS 0-10, CSAT and CES 1-5.
-#}

{#- NPS category: 0-6 detractor, 7-8 passive, 9-10 promoter. -#}
{% macro nps_category(score) -%}
    case
        when {{ score }} >= 9 then 'promoter'
        when {{ score }} >= 7 then 'passive'
        when {{ score }} >= 0 then 'detractor'
    end
{%- endmacro %}

{#- A response's experience: NPS by category; CSAT and CES 4-5 positive, 3 neutral, 1-2 negative. -#}
{% macro score_outcome(survey_type, score) -%}
    case
        when {{ survey_type }} = 'NPS' then
            case
                when {{ score }} >= 9 then 'positive'
                when {{ score }} >= 7 then 'neutral'
                when {{ score }} >= 0 then 'negative'
            end
        when {{ score }} >= 4 then 'positive'
        when {{ score }} = 3 then 'neutral'
        when {{ score }} >= 1 then 'negative'
    end
{%- endmacro %}

{#- NPS = % promoters - % detractors, -100..100, one decimal. -#}
{% macro nps(promoters, detractors, responses) -%}
    round(100.0 * (({{ promoters }}) - ({{ detractors }})) / nullif({{ responses }}, 0), 1)
{%- endmacro %}

{#-
    95% margin of error of an NPS, in NPS points: 1.96 * sqrt(var / n), where each response is
    +1 (promoter), 0 or -1 (detractor), so var = (P + D) - (P - D)^2 with P, D the shares.
-#}
{% macro nps_margin_of_error(promoters, detractors, responses) -%}
    {%- set margin -%}
        100.0 * 1.96 * sqrt(
            (
                (({{ promoters }}) + ({{ detractors }})) / nullif({{ responses }}, 0)::{{ type_double() }}
                - pow((({{ promoters }}) - ({{ detractors }})) / nullif({{ responses }}, 0)::{{ type_double() }}, 2)
            ) / nullif({{ responses }}, 0)
        )
    {%- endset -%}
    {{ round_number(margin, 1) }}
{%- endmacro %}

{#- CSAT = 100 * satisfied (4-5) / responses, rounded to a whole number. -#}
{% macro csat(satisfied, responses) -%}
    round(100.0 * ({{ satisfied }}) / nullif({{ responses }}, 0), 0)
{%- endmacro %}

{#- CES = share of responses that agree (4-5), as a percentage with one decimal. -#}
{% macro ces(agree, responses) -%}
    round(100.0 * ({{ agree }}) / nullif({{ responses }}, 0), 1)
{%- endmacro %}

{#- Churn rate = customers lost / customers at the start, %; none when nobody was there at the start. -#}
{% macro churn_rate(lost, at_start) -%}
    round(100.0 * ({{ lost }}) / nullif({{ at_start }}, 0), 1)
{%- endmacro %}

{#- Retention rate = (customers at end - new customers) / customers at start, %. -#}
{% macro retention_rate(at_end, new, at_start) -%}
    round(100.0 * (({{ at_end }}) - ({{ new }})) / nullif({{ at_start }}, 0), 1)
{%- endmacro %}

{#-
    Web rates (docs/web.md), shares from 0 to 1 with four decimals; none when the denominator is 0.
    Engagement rate = engaged sessions / sessions; bounce rate = bounced (not engaged) sessions /
    sessions; conversion rate = converted sessions (a purchase or a sign-up) / sessions; cart
    abandonment rate = abandoned cart sessions / sessions with an add_to_cart or begin_checkout.
-#}
{#- A share from 0 to 1 with four decimals; null when the whole is 0. -#}
{% macro share(part, whole) -%}
    {%- set fraction %}({{ part }})::{{ type_double() }} / nullif({{ whole }}, 0){% endset -%}
    {{ round_number(fraction, 4) }}
{%- endmacro %}

{% macro web_engagement_rate(engaged_sessions, sessions) -%}
    {{ share(engaged_sessions, sessions) }}
{%- endmacro %}

{% macro web_bounce_rate(bounced_sessions, sessions) -%}
    {{ share(bounced_sessions, sessions) }}
{%- endmacro %}

{% macro web_conversion_rate(converted_sessions, sessions) -%}
    {{ share(converted_sessions, sessions) }}
{%- endmacro %}

{% macro cart_abandonment_rate(abandoned_cart_sessions, cart_sessions) -%}
    {{ share(abandoned_cart_sessions, cart_sessions) }}
{%- endmacro %}

{#- Support times (docs/support.md) -#}

{#-
    SLA breach of one ticket target: the measured minutes when the measure is complete (first
    reply given, ticket solved); otherwise breached once the minutes waited so far pass the target,
    and null (not yet known) before. `waiting_minutes` is null when the measure can no longer
    complete (e.g. a ticket closed without a reply); no target gives null.
-#}
{% macro sla_breached(measured_minutes, waiting_minutes, target_minutes) -%}
    case
        when {{ target_minutes }} is null then null
        when {{ measured_minutes }} is not null then {{ measured_minutes }} > {{ target_minutes }}
        when {{ waiting_minutes }} > {{ target_minutes }} then true
    end
{%- endmacro %}

{#- Average time = total minutes / tickets measured (DOMAIN.md: total resolution time of solved tickets / solved tickets), one decimal. -#}
{% macro average_minutes(total_minutes, tickets) -%}
    {%- set average %}({{ total_minutes }}) / nullif({{ tickets }}, 0)::{{ type_double() }}{% endset -%}
    {{ round_number(average, 1) }}
{%- endmacro %}

{#- A share of tickets as a percentage with one decimal; null when there are none. -#}
{% macro share_pct(part, whole) -%}
    round(100.0 * ({{ part }}) / nullif({{ whole }}, 0), 1)
{%- endmacro %}

{#- A dimension in a cube/grouping-sets query: 'all' on the rows that total over it. -#}
{% macro all_when_rolled_up(column) -%}
    case when grouping({{ column }}) = 1 then 'all' else {{ column }} end
{%- endmacro %}
