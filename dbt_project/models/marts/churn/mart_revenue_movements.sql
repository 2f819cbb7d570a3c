-- Monthly recurring revenue (MRR) per customer and month, and how it moved from the month before:
-- new, expansion, contraction, churn, reactivation or retained. MRR at a month's end is the
-- amount of the customer's latest subscription charge (new, renewal, upgrade, downgrade), or 0
-- once the latest subscription event is a cancel. One-off purchases are not recurring revenue.

with

orders as (

    select * from {{ ref('fct_orders') }}

),

as_of as (

    select * from {{ ref('int_as_of_dates_derived') }}

),

subscription_events as (

    select
        customer_id,
        ordered_at,
        order_id,
        case when order_type = 'cancel' then 0 else amount end as mrr,
        currency

    from orders
    where is_subscription_event

),

customer_months as (

    select
        first_events.customer_id,
        month_start::date as month_start,
        least(month_start + interval '1 month', as_of.as_of_at) as month_end

    from (
        select
            customer_id,
            date_trunc('month', min(ordered_at)) as first_month
        from subscription_events
        group by customer_id
    ) as first_events
    cross join as_of
    cross join generate_series(
        first_events.first_month,
        as_of.as_of_month::timestamp,
        interval '1 month'
    ) as spine (month_start)

),

events_before_month_end as (

    -- the customer's subscription events before each month's end, the latest first
    select
        customer_months.customer_id,
        customer_months.month_start,
        subscription_events.mrr,
        subscription_events.currency,
        row_number() over (
            partition by customer_months.customer_id, customer_months.month_start
            order by subscription_events.ordered_at desc, subscription_events.order_id desc
        ) as recency_rank

    from customer_months
    left join subscription_events
        on customer_months.customer_id = subscription_events.customer_id
        and customer_months.month_end > subscription_events.ordered_at

),

month_end_mrr as (

    -- the latest subscription event before each month's end
    select
        customer_id,
        month_start,
        coalesce(mrr, 0) as mrr,
        currency

    from events_before_month_end
    where recency_rank = 1

),

compared as (

    select
        customer_id,
        month_start,
        currency,
        mrr,
        coalesce(
            lag(mrr) over (partition by customer_id order by month_start),
            0
        ) as previous_mrr,
        coalesce(
            max(mrr) over (
                partition by customer_id
                order by month_start
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) > 0 as had_mrr_before

    from month_end_mrr

),

final as (

    select
        customer_id,
        month_start,
        currency,
        previous_mrr,
        mrr,
        mrr - previous_mrr as mrr_change,
        case
            when previous_mrr = 0 and mrr > 0 and not had_mrr_before then 'new'
            when previous_mrr = 0 and mrr > 0 then 'reactivation'
            when previous_mrr > 0 and mrr = 0 then 'churn'
            when mrr > previous_mrr then 'expansion'
            when mrr < previous_mrr then 'contraction'
            else 'retained'
        end as movement_type

    from compared
    where mrr > 0 or previous_mrr > 0

)

select * from final
