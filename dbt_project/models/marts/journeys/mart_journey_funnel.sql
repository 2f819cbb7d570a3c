-- The funnel visit -> sign-up -> first purchase -> repeat purchase, per cohort (month of the first
-- visit) and over all cohorts: people who reached each step in order, conversion from the step
-- before and from the first visit, and the time each conversion took. A person is a CRM customer
-- (all their devices) or an anonymous visitor who never identified (one device each).

with

journeys as (

    select * from {{ ref('mart_customer_journey') }}

),

sessions as (

    select * from {{ ref('fct_web_sessions') }}

),

anonymous_visitors as (

    select
        visitor_id as person_id,
        min(started_at) as visit_at

    from sessions
    group by visitor_id
    having bool_and(customer_id is null)

),

people as (

    select
        'visitor:' || person_id as person_id,
        visit_at,
        null::timestamp as sign_up_at,
        null::timestamp as first_purchase_at,
        null::timestamp as repeat_purchase_at
    from anonymous_visitors

    union all

    select
        'customer:' || customer_id,
        first_visit_at,
        signup_at,
        first_purchase_at,
        repeat_purchase_at
    from journeys
    where first_visit_at is not null

),

in_order as (

    -- a step counts only when every step before it was reached, in order
    select
        person_id,
        date_trunc('month', visit_at)::date as cohort_month,
        visit_at,
        case when sign_up_at >= visit_at then sign_up_at end as sign_up_at,
        case
            when sign_up_at >= visit_at and first_purchase_at >= sign_up_at then first_purchase_at
        end as first_purchase_at,
        case
            when sign_up_at >= visit_at
                and first_purchase_at >= sign_up_at
                and repeat_purchase_at >= first_purchase_at
                then repeat_purchase_at
        end as repeat_purchase_at

    from people

),

steps as (

    select cohort_month, 1 as step_number, 'visit' as step, visit_at as reached_at, null::timestamp as previous_at
    from in_order

    union all

    select cohort_month, 2, 'sign_up', sign_up_at, visit_at
    from in_order

    union all

    select cohort_month, 3, 'first_purchase', first_purchase_at, sign_up_at
    from in_order

    union all

    select cohort_month, 4, 'repeat_purchase', repeat_purchase_at, first_purchase_at
    from in_order

),

cohorts as (

    select
        coalesce({{ year_month('cohort_month') }}, 'all') as cohort,
        cohort_month,
        step_number,
        step,
        count(reached_at) as people,
        -- days carry one decimal, so a median between two of them needs two; rounding drops float noise
        {{ round_number(median(days_between('previous_at', 'reached_at')), 2) }} as median_days_from_previous_step,
        {{ round_number(exact_avg(days_between('previous_at', 'reached_at'), 1), 1) }} as average_days_from_previous_step

    from steps
    group by grouping sets ((cohort_month, step_number, step), (step_number, step))  -- noqa: PRS

),

final as (

    select
        cohort,
        cohort_month,
        step_number,
        step,
        people,
        lag(people) over (partition by cohort order by step_number) as people_at_previous_step,
        first_value(people) over (partition by cohort order by step_number) as people_at_first_step,
        round(
            100.0 * people / nullif(lag(people) over (partition by cohort order by step_number), 0), 1
        ) as conversion_from_previous_step_pct,
        round(
            100.0 * people / nullif(first_value(people) over (partition by cohort order by step_number), 0), 1
        ) as conversion_from_first_step_pct,
        median_days_from_previous_step,
        average_days_from_previous_step

    from cohorts

)

select * from final
