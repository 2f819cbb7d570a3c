-- Customers at start, new, lost and at end of every month, with churn and retention rates, for
-- all customers and per segment (plan, region, acquisition channel). A customer is active while
-- in a period of int_active_periods_derived.

with

periods as (

    select * from {{ ref('int_active_periods_derived') }}

),

customers as (

    select * from {{ ref('stg_crm__customers') }}

),

as_of as (

    select * from {{ ref('int_as_of_dates_derived') }}

),

months as (

    select
        month_start::date as month_start,
        -- the as-of month ends at the as-of date
        least(month_start + interval '1 month', as_of.as_of_at) as month_end,
        month_start + interval '1 month' > as_of.as_of_at as is_partial_month

    from as_of
    cross join generate_series(
        (select date_trunc('month', min(started_at)) from periods),
        as_of.as_of_month::timestamp,
        interval '1 month'
    ) as spine (month_start)

),

segmented_periods as (

    select periods.*, 'all' as segment_type, 'all' as segment
    from periods

    union all

    select periods.*, 'plan', coalesce(customers.plan, 'unknown')
    from periods
    left join customers on periods.customer_id = customers.customer_id

    union all

    select periods.*, 'region', coalesce(customers.region, 'unknown')
    from periods
    left join customers on periods.customer_id = customers.customer_id

    union all

    select periods.*, 'acquisition_channel', coalesce(customers.acquisition_channel, 'unknown')
    from periods
    left join customers on periods.customer_id = customers.customer_id

),

customer_months as (

    select
        months.month_start,
        months.is_partial_month,
        segmented_periods.segment_type,
        segmented_periods.segment,
        segmented_periods.customer_id,
        bool_or(
            segmented_periods.started_at < months.month_start::timestamp
            and coalesce(segmented_periods.ended_at > months.month_start::timestamp, true)
        ) as is_active_at_start,
        bool_or(
            segmented_periods.started_at < months.month_end
            and coalesce(segmented_periods.ended_at > months.month_end, true)
        ) as is_active_at_end,
        bool_or(
            segmented_periods.started_at >= months.month_start::timestamp
            and segmented_periods.started_at < months.month_end
        ) as has_started

    from months
    inner join segmented_periods
        on segmented_periods.started_at < months.month_end
        and coalesce(segmented_periods.ended_at > months.month_start::timestamp, true)
    group by
        months.month_start,
        months.is_partial_month,
        segmented_periods.segment_type,
        segmented_periods.segment,
        segmented_periods.customer_id

),

counts as (

    select
        month_start,
        is_partial_month,
        segment_type,
        segment,
        count(*) filter (where is_active_at_start) as customers_at_start,
        count(*) filter (where has_started and not is_active_at_start) as new_customers,
        count(*) filter (where is_active_at_end) as customers_at_end

    from customer_months
    group by month_start, is_partial_month, segment_type, segment

),

final as (

    select
        month_start,
        segment_type,
        segment,
        customers_at_start,
        new_customers,
        customers_at_start + new_customers - customers_at_end as lost_customers,
        customers_at_end,
        {{ churn_rate('customers_at_start + new_customers - customers_at_end', 'customers_at_start') }}
            as churn_rate_pct,
        {{ retention_rate('customers_at_end', 'new_customers', 'customers_at_start') }}
            as retention_rate_pct,
        is_partial_month

    from counts

)

select * from final
