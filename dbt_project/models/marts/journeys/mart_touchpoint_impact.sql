-- Moments of truth: per touchpoint, how often it happens, how it scores, how often it goes wrong,
-- and how many customers churn in the next var('churn_risk_horizon_days') days after a negative
-- versus a positive experience there. Survey responses are split by survey and touchpoint asked
-- about. A cancellation is the churn itself, so it is left out of the subscription changes.

with

touchpoints as (

    select * from {{ ref('fct_touchpoints') }}

),

tickets as (

    select * from {{ ref('fct_support_tickets') }}

),

responses as (

    select * from {{ ref('fct_survey_responses') }}

),

periods as (

    select * from {{ ref('int_active_periods_derived') }}

),

as_of as (

    select * from {{ ref('int_as_of_dates_derived') }}

),

experiences as (

    select
        touchpoints.touchpoint_id,
        case
            when touchpoints.touchpoint_type = 'survey_response'
                then 'survey_response:' || touchpoints.detail
            else touchpoints.touchpoint_type
        end as touchpoint,
        touchpoints.customer_id,
        touchpoints.occurred_at,
        touchpoints.experience_outcome,
        coalesce(responses.score, tickets.csat_score) as score,
        case
            when responses.survey_type = 'NPS' then '0-10'
            when responses.survey_type is not null or tickets.csat_score is not null then '1-5'
        end as score_scale

    -- the type test inside the join key (null otherwise, which matches nothing) keeps these
    -- hash joins: as separate conditions DuckDB compares every touchpoint with every row
    from touchpoints
    left join responses
        on responses.response_id
        = case when touchpoints.touchpoint_type = 'survey_response' then touchpoints.source_record_id end
    left join tickets
        on tickets.ticket_id
        = case when touchpoints.touchpoint_type = 'support_ticket' then touchpoints.source_record_id end
    where not (touchpoints.touchpoint_type = 'subscription_change' and touchpoints.detail = 'cancel')

),

volumes as (

    select
        touchpoint,
        count(*) as touchpoints,
        count(distinct customer_id) as customers,
        count(score) as scored_touchpoints,
        {{ round_number('avg(score)', 2) }} as average_score,
        -- a touchpoint has one scale; rows without a score have none
        max(score_scale) as score_scale,
        count(*) filter (where experience_outcome = 'negative') as negative_touchpoints,
        count(*) filter (where experience_outcome = 'positive') as positive_touchpoints

    from experiences
    group by touchpoint

),

first_experiences as (

    -- each customer's first negative and first positive experience at each touchpoint, while
    -- active and early enough for the whole horizon to have been observed
    select
        experiences.touchpoint,
        experiences.experience_outcome,
        experiences.customer_id,
        min(experiences.occurred_at) as experienced_at

    from experiences
    cross join as_of
    where experiences.customer_id is not null
        and experiences.experience_outcome in ('negative', 'positive')
        and {{ dbt.dateadd('day', var('churn_risk_horizon_days'), 'experiences.occurred_at') }} <= as_of.as_of_at
    group by experiences.touchpoint, experiences.experience_outcome, experiences.customer_id

),

outcomes as (

    select
        first_experiences.touchpoint,
        first_experiences.experience_outcome,
        first_experiences.customer_id,
        coalesce(
            periods.ended_at
            <= {{ dbt.dateadd('day', var('churn_risk_horizon_days'), 'first_experiences.experienced_at') }},
            false
        ) as has_churned

    from first_experiences
    inner join periods
        on first_experiences.customer_id = periods.customer_id
        and periods.started_at <= first_experiences.experienced_at
        and coalesce(periods.ended_at > first_experiences.experienced_at, true)

),

churn_after as (

    select
        touchpoint,
        count(*) filter (where experience_outcome = 'negative') as customers_after_negative,
        count(*) filter (where experience_outcome = 'negative' and has_churned) as churned_after_negative,
        count(*) filter (where experience_outcome = 'positive') as customers_after_positive,
        count(*) filter (where experience_outcome = 'positive' and has_churned) as churned_after_positive

    from outcomes
    group by touchpoint

),

rates as (

    select
        volumes.*,
        coalesce(churn_after.customers_after_negative, 0) as customers_after_negative,
        coalesce(churn_after.churned_after_negative, 0) as churned_after_negative,
        coalesce(churn_after.customers_after_positive, 0) as customers_after_positive,
        coalesce(churn_after.churned_after_positive, 0) as churned_after_positive,
        1.0 * churn_after.churned_after_negative / nullif(churn_after.customers_after_negative, 0) as negative_rate,
        1.0 * churn_after.churned_after_positive / nullif(churn_after.customers_after_positive, 0) as positive_rate,
        1.0 * (churn_after.churned_after_negative + churn_after.churned_after_positive)
        / nullif(churn_after.customers_after_negative + churn_after.customers_after_positive, 0) as pooled_rate

    from volumes
    left join churn_after
        on volumes.touchpoint = churn_after.touchpoint

),

final as (

    select
        touchpoint,
        touchpoints,
        customers,
        scored_touchpoints,
        average_score,
        score_scale,
        negative_touchpoints,
        positive_touchpoints,
        round(100.0 * negative_touchpoints / touchpoints, 1) as negative_share_pct,
        round(100.0 * positive_touchpoints / touchpoints, 1) as positive_share_pct,
        customers_after_negative,
        churned_after_negative,
        round(100.0 * negative_rate, 1) as churn_rate_after_negative_pct,
        customers_after_positive,
        churned_after_positive,
        round(100.0 * positive_rate, 1) as churn_rate_after_positive_pct,
        round(100.0 * (negative_rate - positive_rate), 1) as churn_rate_difference_pts,
        -- two-proportion z statistic: |z| > 1.96 is a difference unlikely to be chance (5% level)
        round(
            (negative_rate - positive_rate) / nullif(
                sqrt(
                    pooled_rate * (1 - pooled_rate)
                    * (1.0 / nullif(customers_after_negative, 0) + 1.0 / nullif(customers_after_positive, 0))
                ),
                0
            ),
            2
        ) as churn_difference_z_score

    from rates

)

select * from final
