-- Customers to ask for advocacy (a review, a referral, a case study): one row per current customer
-- whose latest NPS answer (at the as-of date) is a promoter's 9 or 10. Anonymous responses are
-- never linked to anyone, so they never appear; a customer who has since churned is left out.

with

responses as (

    select * from {{ ref('fct_survey_responses') }}

),

customers as (

    select * from {{ ref('dim_customers') }}

),

as_of as (

    select * from {{ ref('int_as_of_dates_derived') }}

),

nps_responses as (

    select responses.*
    from responses
    cross join as_of
    where responses.survey_type = 'NPS'
        and responses.customer_id is not null
        and not responses.is_anonymous
        and responses.responded_at < as_of.as_of_at

),

per_customer as (

    select
        customer_id,
        count(*) as nps_responses,
        count(*) filter (where nps_category = 'promoter') as promoter_responses

    from nps_responses
    group by customer_id

),

ranked as (

    select
        *,
        row_number() over (partition by customer_id order by responded_at desc, response_id desc) as recency_rank

    from nps_responses

),

latest as (

    select * from ranked
    where recency_rank = 1

),

final as (

    select
        latest.customer_id,
        latest.response_id as latest_response_id,
        latest.touchpoint as latest_touchpoint,
        latest.score as latest_score,
        latest.responded_at as latest_responded_at,
        per_customer.nps_responses,
        per_customer.promoter_responses,
        customers.plan,
        customers.region,
        customers.lifecycle_stage,
        customers.tenure_days,
        customers.revenue_to_date

    from latest
    inner join per_customer
        on latest.customer_id = per_customer.customer_id
    inner join customers
        on latest.customer_id = customers.customer_id
    where latest.nps_category = 'promoter'
        and not coalesce(customers.is_churned, false)

)

select * from final
