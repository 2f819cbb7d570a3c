-- One row per CRM customer: attributes, activity to date, latest scores, churn status, lifetime
-- value and lifecycle stage as of the warehouse's as-of date.

with

customers as (

    select * from {{ ref('stg_crm__customers') }}

),

as_of as (

    select * from {{ ref('int_as_of_dates_derived') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

touchpoints as (

    select * from {{ ref('fct_touchpoints') }}

),

responses as (

    select * from {{ ref('fct_survey_responses') }}

),

tickets as (

    select * from {{ ref('fct_support_tickets') }}

),

periods as (

    select * from {{ ref('int_active_periods_derived') }}

),

emails as (

    select * from {{ ref('int_emails_resolved') }}

),

{# lifetime value and churn risk come from Python models: null where they do not run #}
clv as (

    {% if python_models_enabled() -%}
    select * from {{ ref('mart_customer_clv') }}
    {%- else -%}
    select
        null::{{ dbt.type_string() }} as customer_id,
        null::{{ type_double() }} as historical_clv,
        null::{{ type_double() }} as probability_alive,
        null::{{ type_double() }} as expected_purchases_12m,
        null::{{ type_double() }} as predicted_clv_12m
    where false
    {%- endif %}

),

risks as (

    {% if python_models_enabled() -%}
    select * from {{ ref('mart_customers_at_risk') }}
    {%- else -%}
    select
        null::{{ dbt.type_string() }} as customer_id,
        null::{{ type_double() }} as churn_risk,
        null::{{ dbt.type_string() }} as risk_band,
        null::{{ dbt.type_string() }} as churn_risk_reasons
    where false
    {%- endif %}

),

order_summary as (

    select
        customer_id,
        count(*) filter (where is_purchase) as orders,
        min(ordered_at) filter (where is_purchase) as first_order_at,
        max(ordered_at) filter (where is_purchase) as last_order_at,
        coalesce(sum(amount) filter (where is_purchase), 0) as revenue_to_date

    from orders
    group by customer_id

),

touch_summary as (

    select
        touchpoints.customer_id,
        min(touchpoints.occurred_at) as first_touch_at,
        max(touchpoints.occurred_at) as last_touch_at,
        count(*) as touchpoints,
        count(*) filter (
            where touchpoints.experience_outcome = 'negative'
                and touchpoints.occurred_at >= as_of.as_of_at - interval '30 day'
        ) as negative_experiences_30d

    from touchpoints
    cross join as_of
    where touchpoints.customer_id is not null
    group by touchpoints.customer_id

),

latest_nps as (

    select
        customer_id,
        {{ arg_max('score', ['responded_at', 'response_id']) }} as latest_nps_score,
        {{ arg_max('nps_category', ['responded_at', 'response_id']) }} as latest_nps_category,
        max(responded_at) as latest_nps_at

    from responses
    where survey_type = 'NPS'
        and customer_id is not null
    group by customer_id

),

ticket_summary as (

    select
        customer_id,
        count(*) as tickets,
        count(*) filter (where is_open) as open_tickets

    from tickets
    where customer_id is not null
        -- tickets the company opened are its contacts, not the customer's requests
        and not is_outbound
    group by customer_id

),

period_summary as (

    select
        customer_id,
        count(*) as active_periods,
        min(started_at) as first_active_at,
        {{ arg_max('started_at', 'started_at') }} as current_period_started_at,
        bool_or(is_active) as is_active,
        {{ arg_max('ended_at', 'started_at') }} as last_ended_at,
        {{ arg_max('end_reason', 'started_at') }} as last_end_reason

    from periods
    group by customer_id

),

joined as (

    select
        customers.customer_id,
        customers.plan,
        customers.region,
        customers.country,
        customers.acquisition_channel,
        customers.birth_year,
        customers.gender,
        customers.signup_at,
        touch_summary.first_touch_at,
        touch_summary.last_touch_at,
        coalesce(touch_summary.touchpoints, 0) as touchpoints,
        coalesce(touch_summary.negative_experiences_30d, 0) as negative_experiences_30d,
        coalesce(order_summary.orders, 0) as orders,
        order_summary.first_order_at,
        order_summary.last_order_at,
        coalesce(order_summary.revenue_to_date, 0) as revenue_to_date,
        latest_nps.latest_nps_score,
        latest_nps.latest_nps_category,
        latest_nps.latest_nps_at,
        coalesce(ticket_summary.tickets, 0) as tickets,
        coalesce(ticket_summary.open_tickets, 0) as open_tickets,
        coalesce(period_summary.active_periods, 0) as active_periods,
        period_summary.first_active_at,
        period_summary.current_period_started_at,
        coalesce(period_summary.is_active, false) as is_active,
        period_summary.first_active_at is not null and not coalesce(period_summary.is_active, false)
            as is_churned,
        case when not period_summary.is_active then period_summary.last_ended_at end as churned_at,
        case when not period_summary.is_active then period_summary.last_end_reason end as churn_type,
        {{ dbt.datediff(
            'period_summary.first_active_at',
            'coalesce(case when not period_summary.is_active then period_summary.last_ended_at end, as_of.as_of_at)',
            'day'
        ) }} as tenure_days,
        clv.historical_clv,
        clv.probability_alive,
        clv.expected_purchases_12m,
        clv.predicted_clv_12m,
        risks.churn_risk,
        risks.risk_band as churn_risk_band,
        risks.churn_risk_reasons,
        coalesce(emails.has_conflict and emails.customer_id = customers.customer_id, false)
            as is_email_survivor,
        coalesce(emails.has_conflict, false) as has_shared_email

    from customers
    cross join as_of
    left join order_summary
        on customers.customer_id = order_summary.customer_id
    left join touch_summary
        on customers.customer_id = touch_summary.customer_id
    left join latest_nps
        on customers.customer_id = latest_nps.customer_id
    left join ticket_summary
        on customers.customer_id = ticket_summary.customer_id
    left join period_summary
        on customers.customer_id = period_summary.customer_id
    left join clv
        on customers.customer_id = clv.customer_id
    left join risks
        on customers.customer_id = risks.customer_id
    left join emails
        on customers.email = emails.email

),

final as (

    select
        joined.*,
        case
            when first_active_at is null then 'prospect'
            when is_churned and churn_type = 'lapsed' then 'lapsed'
            when is_churned then 'churned'
            when current_period_started_at >= as_of.as_of_at - interval '30 day' then 'new'
            when (latest_nps_category = 'detractor' and latest_nps_at >= as_of.as_of_at - interval '180 day')
                or negative_experiences_30d > 0
                then 'at_risk'
            else 'active'
        end as lifecycle_stage

    from joined
    cross join as_of

)

select * from final
