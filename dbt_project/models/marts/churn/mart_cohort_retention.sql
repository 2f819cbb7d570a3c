-- Cohort retention matrix: customers grouped by the month they first became active, and the
-- share of each cohort active at any time in each later month.

with

periods as (

    select * from {{ ref('int_active_periods_derived') }}

),

as_of as (

    select * from {{ ref('int_as_of_dates_derived') }}

),

cohorts as (

    select
        customer_id,
        date_trunc('month', min(started_at))::date as cohort_month

    from periods
    group by customer_id

),

cohort_sizes as (

    select
        cohort_month,
        count(*) as cohort_customers

    from cohorts
    group by cohort_month

),

cohort_months as (

    select
        cohort_sizes.cohort_month,
        cohort_sizes.cohort_customers,
        month_start::date as activity_month,
        {{ dbt.datediff('cohort_sizes.cohort_month', 'month_start::date', 'month') }} as months_since_start

    from cohort_sizes
    cross join as_of
    cross join generate_series(
        cohort_sizes.cohort_month::timestamp,
        as_of.as_of_month::timestamp,
        interval '1 month'
    ) as spine (month_start)

),

active as (

    select
        cohorts.cohort_month,
        cohort_months.activity_month,
        count(distinct periods.customer_id) as active_customers

    from cohort_months
    inner join cohorts
        on cohort_months.cohort_month = cohorts.cohort_month
    inner join periods
        on cohorts.customer_id = periods.customer_id
        and periods.started_at < cohort_months.activity_month + interval '1 month'
        and coalesce(periods.ended_at > cohort_months.activity_month::timestamp, true)
    group by cohorts.cohort_month, cohort_months.activity_month

),

final as (

    select
        cohort_months.cohort_month,
        cohort_months.activity_month,
        cohort_months.months_since_start,
        cohort_months.cohort_customers,
        coalesce(active.active_customers, 0) as active_customers,
        round(100.0 * coalesce(active.active_customers, 0) / cohort_months.cohort_customers, 1)
            as retention_pct

    from cohort_months
    left join active
        on cohort_months.cohort_month = active.cohort_month
        and cohort_months.activity_month = active.activity_month

)

select * from final
