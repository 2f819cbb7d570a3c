-- One row per period in which a customer was active. A subscription is active from its first
-- charge (new, renewal, upgrade or downgrade) until its cancel order: "churned" for a subscriber
-- means the subscription was cancelled. A one-off purchase keeps a customer active for
-- var('one_off_churn_days') days: "churned" for a one-off buyer means that long without a purchase
-- ("lapsed"). Overlapping activity is merged; a period still running on the as-of date has no end.

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
        order_type,
        ordered_at,
        -- cancels before this event: each cancel closes one subscription stretch
        coalesce(
            sum((order_type = 'cancel')::integer) over (
                partition by customer_id
                order by ordered_at, order_id
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as stretch_number

    from orders
    where is_subscription_event

),

subscription_stretches as (

    select
        customer_id,
        min(ordered_at) filter (where order_type != 'cancel') as started_at,
        min(ordered_at) filter (where order_type = 'cancel') as ended_at,
        'cancelled' as end_reason

    from subscription_events
    group by customer_id, stretch_number

),

one_off_stretches as (

    select
        customer_id,
        ordered_at as started_at,
        {{ dbt.dateadd('day', var('one_off_churn_days'), 'ordered_at') }} as ended_at,
        'lapsed' as end_reason

    from orders
    where order_type = 'one_off'
        and not exists (
            select 1 from subscription_events
            where subscription_events.customer_id = orders.customer_id
        )

),

stretches as (

    select * from subscription_stretches
    where started_at is not null

    union all

    select * from one_off_stretches

),

islands as (

    -- gaps and islands: a stretch starting after every earlier one has ended opens a new period
    select
        *,
        sum(is_new_island::integer) over (
            partition by customer_id
            order by started_at, open_end
            rows between unbounded preceding and current row
        ) as period_number

    from (
        select
            *,
            coalesce(ended_at, '9999-12-31'::timestamp) as open_end,
            coalesce(
                started_at > max(coalesce(ended_at, '9999-12-31'::timestamp)) over (
                    partition by customer_id
                    order by started_at, coalesce(ended_at, '9999-12-31'::timestamp)
                    rows between unbounded preceding and 1 preceding
                ),
                true
            ) as is_new_island
        from stretches
    ) as flagged

),

periods as (

    select
        customer_id,
        period_number,
        min(started_at) as started_at,
        max(open_end) as open_end,
        {{ arg_max('end_reason', 'open_end') }} as end_reason

    from islands
    group by customer_id, period_number

),

final as (

    select
        periods.customer_id,
        periods.period_number,
        case when periods.period_number = 1 then 'new' else 'reactivation' end as start_type,
        periods.started_at,
        -- an end after the as-of date has not happened yet
        case when periods.open_end < as_of.as_of_at then periods.open_end end as ended_at,
        case when periods.open_end < as_of.as_of_at then periods.end_reason end as end_reason,
        periods.open_end >= as_of.as_of_at as is_active

    from periods
    cross join as_of
    where periods.started_at < as_of.as_of_at

)

select * from final
