-- One row per CRM customer: the ordered path of their touchpoints, where they are in the funnel
-- visit -> sign-up -> first purchase -> repeat purchase (with the time each step took), and their
-- current journey stage.

with

customers as (

    select * from {{ ref('dim_customers') }}

),

touchpoints as (

    select * from {{ ref('fct_touchpoints') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

sessions as (

    select * from {{ ref('fct_web_sessions') }}

),

first_visits as (

    select
        customer_id,
        min(started_at) as first_visit_at

    from sessions
    where customer_id is not null
    group by customer_id

),

first_purchases as (

    select
        customer_id,
        min(ordered_at) as first_purchase_at

    from orders
    where is_purchase
    group by customer_id

),

repeat_purchases as (

    -- the first purchase on a later day than the first one
    select
        orders.customer_id,
        min(orders.ordered_at) as repeat_purchase_at

    from orders
    inner join first_purchases
        on orders.customer_id = first_purchases.customer_id
    where orders.is_purchase
        and orders.ordered_at::date > first_purchases.first_purchase_at::date
    group by orders.customer_id

),

steps as (

    -- consecutive touchpoints of the same type collapse into one step of the path
    select
        customer_id,
        touchpoint_type,
        occurred_at,
        touchpoint_id,
        journey_stage,
        coalesce(
            touchpoint_type != lag(touchpoint_type) over (
                partition by customer_id order by occurred_at, touchpoint_id
            ),
            true
        ) as is_new_step

    from touchpoints
    where customer_id is not null

),

paths as (

    select
        customer_id,
        count(*) as touchpoints,
        count(distinct touchpoint_type) as touchpoint_types,
        count(*) filter (where is_new_step) as path_steps,
        {{ ordered_string_agg('touchpoint_type', "' > '", ['occurred_at', 'touchpoint_id'], where='is_new_step') }}
            as touchpoint_path,
        {{ arg_min('touchpoint_type', ['occurred_at', 'touchpoint_id']) }} as first_touchpoint_type,
        {{ arg_max('touchpoint_type', ['occurred_at', 'touchpoint_id']) }} as last_touchpoint_type,
        {{ arg_max('journey_stage', ['occurred_at', 'touchpoint_id']) }} as last_touchpoint_stage,
        min(occurred_at) as first_touch_at,
        max(occurred_at) as last_touch_at

    from steps
    group by customer_id

),

final as (

    select
        customers.customer_id,
        customers.plan,
        customers.acquisition_channel,
        customers.lifecycle_stage,
        case
            when repeat_purchases.repeat_purchase_at is not null then 'repeat_purchase'
            when first_purchases.first_purchase_at is not null then 'first_purchase'
            else 'sign_up'
        end as funnel_stage,
        -- churned and lapsed customers have left the journey; otherwise the stage of the latest touch
        case
            when customers.lifecycle_stage in ('churned', 'lapsed') then 'churned'
            else coalesce(paths.last_touchpoint_stage, 'awareness')
        end as current_journey_stage,
        first_visits.first_visit_at,
        customers.signup_at,
        first_purchases.first_purchase_at,
        repeat_purchases.repeat_purchase_at,
        {{ days_between('first_visits.first_visit_at', 'customers.signup_at') }} as days_visit_to_sign_up,
        {{ days_between('customers.signup_at', 'first_purchases.first_purchase_at') }} as days_sign_up_to_first_purchase,
        {{ days_between('first_purchases.first_purchase_at', 'repeat_purchases.repeat_purchase_at') }} as days_first_to_repeat_purchase,
        coalesce(paths.touchpoints, 0) as touchpoints,
        coalesce(paths.touchpoint_types, 0) as touchpoint_types,
        coalesce(paths.path_steps, 0) as path_steps,
        paths.touchpoint_path,
        paths.first_touchpoint_type,
        paths.last_touchpoint_type,
        paths.first_touch_at,
        paths.last_touch_at

    from customers
    left join paths
        on customers.customer_id = paths.customer_id
    left join first_visits
        on customers.customer_id = first_visits.customer_id
    left join first_purchases
        on customers.customer_id = first_purchases.customer_id
    left join repeat_purchases
        on customers.customer_id = repeat_purchases.customer_id

)

select * from final
