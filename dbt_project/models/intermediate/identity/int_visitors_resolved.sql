-- One row per web visitor (device) id, with the customer it belongs to once identified.
-- A visitor is identified by its first event carrying a customer_id (sign-up, login, identify or
-- any logged-in event); that customer owns all of the visitor's events, earlier anonymous ones
-- too. A visitor never identified stays anonymous (customer_id null).

with

events as (

    select * from {{ ref('stg_web__events') }}

),

customers as (

    select customer_id from {{ ref('stg_crm__customers') }}

),

visitors as (

    select
        visitor_id,
        min(occurred_at) as first_seen_at,
        min(occurred_at) filter (where customer_id is not null) as identified_at,
        {{ arg_min('customer_id', ['occurred_at', 'web_event_id'], where='customer_id is not null') }}
            as first_customer_id,
        count(distinct customer_id) as customers_seen

    from events
    group by visitor_id

),

final as (

    select
        visitors.visitor_id,
        customers.customer_id,
        visitors.first_customer_id,
        visitors.first_seen_at,
        visitors.identified_at,
        visitors.customers_seen,
        visitors.customers_seen > 1 as has_conflict

    from visitors
    left join customers
        on visitors.first_customer_id = customers.customer_id

)

select * from final
