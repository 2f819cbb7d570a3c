-- Web events with the customer they belong to and the session they fall in. A visitor's session
-- ends after var('session_gap_minutes') without an event: a gap strictly longer than that starts a
-- new session, a gap of exactly that length does not (as dbt's segment package does). Gaps are
-- compared as exact intervals, so 30:00.5 is over 30 minutes. A visitor identified later owns its
-- earlier anonymous events too (int_visitors_resolved).

with

events as (

    select * from {{ ref('stg_web__events') }}

),

visitors as (

    select * from {{ ref('int_visitors_resolved') }}

),

gaps as (

    select
        events.*,
        visitors.customer_id as resolved_customer_id,
        coalesce(
            epoch(
                events.occurred_at - lag(events.occurred_at) over (
                    partition by events.visitor_id
                    order by events.occurred_at, events.web_event_id
                )
            ) > {{ var('session_gap_minutes') }} * 60,
            true
        ) as is_session_start,

    from events
    left join visitors
        on events.visitor_id = visitors.visitor_id

),

numbered as (

    select
        *,
        sum(is_session_start::integer) over (
            partition by visitor_id
            order by occurred_at, web_event_id
            rows between unbounded preceding and current row
        ) as visitor_session_number,

    from gaps

),

final as (

    select
        web_event_id,
        visitor_id || '-' || lpad(visitor_session_number::varchar, 5, '0') as session_id,
        visitor_id,
        visitor_session_number,
        resolved_customer_id as customer_id,
        customer_id as event_customer_id,
        is_session_start,
        event_name,
        page_path,
        referrer,
        utm_source,
        utm_medium,
        utm_campaign,
        device,
        order_id,
        revenue,
        occurred_at,

    from numbered

)

select * from final
