-- One row per customer active at a snapshot, with what the warehouse knew about them then
-- (touchpoint experiences, scores, engagement, recency, spend) and what happened next (churn in
-- the following var('churn_risk_horizon_days'), the next NPS score). Snapshots are taken every 30
-- days counting back from the as-of moment, so every window has the same length for training and
-- for scoring today's customers (snapshot_number 0). Events are bucketed into those same 30-day
-- spans first, which keeps the cost linear in the data; "_90d" features add up three spans.

{%- set span = 30 %}
{%- set horizon_spans = (var('churn_risk_horizon_days') / span) | round(0, 'ceil') | int %}
{#- span facts summed over the three spans (90 days) before a snapshot -#}
{%- set ninety_day_sums = [
    'revenue', 'downgrades', 'tickets', 'negative_tickets', 'slow_first_replies',
    'reopened_tickets', 'negative_responses', 'cart_abandonments',
] %}

with

as_of as (

    select * from {{ ref('int_as_of_dates_derived') }}

),

periods as (

    select * from {{ ref('int_active_periods_derived') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

tickets as (

    select * from {{ ref('fct_support_tickets') }}

),

responses as (

    select * from {{ ref('fct_survey_responses') }}

),

sessions as (

    select * from {{ ref('fct_web_sessions') }}

),

customer_events as (

    -- every dated fact about a customer, in one shape, before the as-of moment
    select
        customer_id,
        ordered_at as occurred_at,
        'order' as event_kind,
        order_type as detail,
        amount,
        plan,
        null::integer as score,
        null::boolean as is_negative,
        null::boolean as is_flagged
    from orders
    where is_purchase or order_type = 'cancel'

    union all

    select
        customer_id,
        created_at,
        'ticket',
        experience_outcome,
        null,
        null,
        null,
        experience_outcome = 'negative',
        is_slow_first_reply
    from tickets
    where customer_id is not null
        and not is_outbound

    union all

    select
        customer_id,
        created_at,
        'ticket_reopened',
        null,
        null,
        null,
        null,
        null,
        null
    from tickets
    where customer_id is not null
        and not is_outbound
        and is_reopened

    union all

    select
        customer_id,
        responded_at,
        'response',
        survey_type,
        null,
        null,
        score,
        experience_outcome = 'negative',
        null
    from responses
    where customer_id is not null

    union all

    select
        customer_id,
        started_at,
        'session',
        null,
        revenue,
        null,
        null,
        is_cart_abandoned,
        null
    from sessions
    where customer_id is not null

),

bucketed as (

    -- span 0 is the {{ span }} days just before the as-of moment, span 1 the ones before, ...
    select
        customer_events.*,
        floor(
            {{ dbt.datediff('customer_events.occurred_at', 'as_of.as_of_at', 'second') }} / ({{ span }} * 86400)
        )::integer as span_number

    from customer_events
    cross join as_of
    where customer_events.occurred_at < as_of.as_of_at

),

span_facts as (

    select
        customer_id,
        span_number,
        coalesce(sum(amount) filter (where event_kind = 'order'), 0) as revenue,
        count(*) filter (where event_kind = 'order' and detail != 'cancel') as purchases,
        max(occurred_at) filter (where event_kind = 'order' and detail != 'cancel') as last_purchase_at,
        count(*) filter (where event_kind = 'order' and detail = 'downgrade') as downgrades,
        {{ arg_max('plan', 'occurred_at', where="event_kind = 'order' and plan is not null") }} as last_plan,
        max(occurred_at) filter (where event_kind = 'order' and plan is not null) as last_plan_at,
        count(*) filter (where event_kind = 'ticket') as tickets,
        count(*) filter (where event_kind = 'ticket' and is_negative) as negative_tickets,
        count(*) filter (where event_kind = 'ticket' and is_flagged) as slow_first_replies,
        count(*) filter (where event_kind = 'ticket_reopened') as reopened_tickets,
        {{ arg_max('score', 'occurred_at', where="event_kind = 'response' and detail = 'NPS'") }} as last_nps_score,
        max(occurred_at) filter (where event_kind = 'response' and detail = 'NPS') as last_nps_at,
        avg(score) filter (where event_kind = 'response' and detail = 'NPS') as average_nps_score,
        count(*) filter (where event_kind = 'response' and is_negative) as negative_responses,
        count(*) filter (where event_kind = 'session') as sessions,
        count(*) filter (where event_kind = 'session' and is_negative) as cart_abandonments,
        max(occurred_at) filter (where event_kind = 'session') as last_session_at

    from bucketed
    group by customer_id, span_number

),

snapshots as (

    select
        snapshot_number,
        {{ dbt.dateadd('day', '-snapshot_number * ' ~ span, 'as_of.as_of_at') }} as snapshot_at

    from as_of
    cross join generate_series(
        0,
        greatest(
            0,
            floor(
                {{ dbt.datediff('(select min(started_at) from periods)', 'as_of.as_of_at', 'day') }} / {{ span }}
            )::integer
        )
    ) as spine (snapshot_number)

),

active_customers as (

    select
        snapshots.snapshot_number,
        snapshots.snapshot_at,
        periods.customer_id,
        periods.ended_at as period_ended_at,
        -- the label is known once the whole horizon lies before the as-of moment
        snapshots.snapshot_number >= {{ horizon_spans }} as is_labelled,
        min(periods.started_at) over (partition by periods.customer_id) as first_started_at

    from snapshots
    inner join periods
        on periods.started_at < snapshots.snapshot_at
        and coalesce(periods.ended_at > snapshots.snapshot_at, true)

),

history as (

    -- for each snapshot, what the customer's spans before it add up to
    select
        active_customers.snapshot_number,
        active_customers.customer_id,
        {%- for fact in ninety_day_sums %}
        coalesce(
            sum(span_facts.{{ fact }}) filter (
                where span_facts.span_number < active_customers.snapshot_number + 3
            ),
            0
        ) as {{ fact }}_90d,
        {%- endfor %}
        coalesce(sum(span_facts.sessions) filter (where span_facts.span_number = active_customers.snapshot_number), 0) as sessions_30d,
        max(span_facts.last_purchase_at) as last_purchase_at,
        max(span_facts.last_session_at) as last_session_at,
        {{ arg_max('span_facts.last_plan', 'span_facts.last_plan_at') }} as plan,
        {{ arg_max('span_facts.last_nps_score', 'span_facts.last_nps_at') }} as latest_nps_score

    from active_customers
    left join span_facts
        on active_customers.customer_id = span_facts.customer_id
        and span_facts.span_number >= active_customers.snapshot_number
    group by active_customers.snapshot_number, active_customers.customer_id

),

final as (

    select
        active_customers.customer_id || ':' || active_customers.snapshot_number as customer_snapshot_id,
        active_customers.customer_id,
        active_customers.snapshot_number,
        active_customers.snapshot_at,
        active_customers.snapshot_number = 0 as is_current,
        active_customers.is_labelled,
        history.plan,
        {{ dbt.datediff('active_customers.first_started_at', 'active_customers.snapshot_at', 'day') }} as tenure_days,
        history.revenue_90d,
        least(
            {{ dbt.datediff('history.last_purchase_at', 'active_customers.snapshot_at', 'day') }},
            365
        ) as days_since_last_purchase,
        history.downgrades_90d,
        history.tickets_90d,
        history.negative_tickets_90d,
        history.slow_first_replies_90d,
        history.reopened_tickets_90d,
        history.latest_nps_score,
        history.negative_responses_90d,
        history.sessions_30d,
        history.cart_abandonments_90d,
        coalesce(
            least({{ dbt.datediff('history.last_session_at', 'active_customers.snapshot_at', 'day') }}, 365),
            365
        ) as days_since_last_session,
        case
            when active_customers.is_labelled
                then coalesce(
                    active_customers.period_ended_at
                    < {{ dbt.dateadd('day', var('churn_risk_horizon_days'), 'active_customers.snapshot_at') }},
                    false
                )
        end as is_churned_within_horizon,
        next_span.average_nps_score as next_nps_score

    from active_customers
    inner join history
        on active_customers.customer_id = history.customer_id
        and active_customers.snapshot_number = history.snapshot_number
    -- the NPS the customer gave in the {{ span }} days after the snapshot, if any
    left join span_facts as next_span
        on active_customers.customer_id = next_span.customer_id
        and next_span.span_number = active_customers.snapshot_number - 1

)

select * from final
