-- One row per web session (a visitor's events with no gap over var('session_gap_minutes')).

with

events as (

    select * from {{ ref('int_web_events_sessionized') }}

),

sessions as (

    select
        session_id,
        visitor_id,
        any_value(customer_id) as customer_id,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        count(*) as events,
        count(*) filter (where event_name = 'page_view') as page_views,
        arg_min(page_path, (occurred_at, web_event_id)) filter (
            where event_name = 'page_view'
        ) as landing_page_path,
        arg_min(referrer, (occurred_at, web_event_id)) as referrer,
        arg_min(utm_source, (occurred_at, web_event_id)) as utm_source,
        arg_min(utm_medium, (occurred_at, web_event_id)) as utm_medium,
        arg_min(utm_campaign, (occurred_at, web_event_id)) as utm_campaign,
        arg_min(device, (occurred_at, web_event_id)) as device,
        bool_or(event_customer_id is not null) as is_logged_in,
        bool_or(event_name = 'sign_up') as has_sign_up,
        bool_or(event_name = 'add_to_cart') as has_add_to_cart,
        bool_or(event_name = 'begin_checkout') as has_begin_checkout,
        bool_or(event_name = 'purchase') as has_purchase,
        coalesce(sum(revenue), 0) as revenue,

    from events
    group by session_id, visitor_id

),

final as (

    select
        *,
        date_diff('second', started_at, ended_at) as duration_seconds,
        customer_id is not null as is_identified,
        (has_add_to_cart or has_begin_checkout) and not has_purchase as is_cart_abandoned,

    from sessions

)

select * from final
