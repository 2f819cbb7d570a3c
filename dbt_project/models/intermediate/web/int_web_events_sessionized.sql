-- Web events with the customer they belong to and the session they fall in. A visitor's session
-- ends after var('session_gap_minutes') without an event: a gap strictly longer than that starts a
-- new session, a gap of exactly that length does not (as dbt's segment package does). Gaps are
-- compared as exact intervals, so 30:00.5 is over 30 minutes. A visitor identified later owns its
-- earlier anonymous events too (int_visitors_resolved).
--
-- Incremental (docs/incremental.md): a visitor's sessions and their numbers depend on all of its
-- events, so each night every event of a visitor with something new is sessionized again: a new or
-- re-sent event (and the visitor a re-sent event had before), or a CRM customer the visitor
-- resolves to that landed since. Other visitors' rows stay as they are.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='web_event_id',
        on_schema_change='fail',
    )
}}

with

events as (

    select * from {{ ref('stg_web__events') }}

),

visitors as (

    select * from {{ ref('int_visitors_resolved') }}

),

customers as (

    select customer_id, _first_loaded_at from {{ ref('stg_crm__customers') }}

),

{% if is_incremental() -%}
{%- set since = high_water_mark() -%}

new_events as (

    select web_event_id, visitor_id from events
    where _loaded_at > {{ since }}

),

changed_visitors as (

    select visitor_id from new_events

    union

    -- an event sent again under another visitor id leaves its previous visitor
    select built.visitor_id
    from {{ this }} as built
    inner join new_events
        on built.web_event_id = new_events.web_event_id

    union

    select visitors.visitor_id
    from visitors
    inner join customers
        on visitors.customer_id = customers.customer_id
    where customers._first_loaded_at > {{ since }}

),

{% endif -%}

gaps as (

    select
        events.*,
        visitors.customer_id as resolved_customer_id,
        coalesce(
            {{ epoch_seconds(
                'events.occurred_at - lag(events.occurred_at) over (
                    partition by events.visitor_id
                    order by events.occurred_at, events.web_event_id
                )'
            ) }} > {{ var('session_gap_minutes') }} * 60,
            true
        ) as is_session_start

    from events
    left join visitors
        on events.visitor_id = visitors.visitor_id
    {% if is_incremental() -%}
    where events.visitor_id in (select visitor_id from changed_visitors)
    {%- endif %}

),

numbered as (

    select
        *,
        sum(is_session_start::integer) over (
            partition by visitor_id
            order by occurred_at, web_event_id
            rows between unbounded preceding and current row
        ) as visitor_session_number

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
        _loaded_at

    from numbered

)

select * from final
