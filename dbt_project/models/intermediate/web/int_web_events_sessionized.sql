-- Web events with the customer they belong to and the session they fall in. A visitor's session
-- ends after var('session_gap_minutes') without an event: a gap strictly longer than that starts a
-- new session, a gap of exactly that length does not (as dbt's segment package does). Gaps are
-- compared as exact intervals, so 30:00.5 is over 30 minutes. A visitor identified later owns its
-- earlier anonymous events too (int_visitors_resolved).
--
-- Incremental (docs/incremental.md): an event's session and session number depend only on the
-- visitor's events before it. So each night a visitor with new events is sessionized again from its
-- first new event on, continuing from the last event built before it (its time and session number);
-- the events before stay as built. A visitor is sessionized again whole when that does not hold: an
-- event sent again (its old and new visitor), a visitor attributed to another customer than its
-- built rows (a first identify), one with no event built before its new ones, and a visitor whose
-- CRM customer first landed since. Other visitors' rows stay as they are.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='web_event_id',
        on_schema_change='fail',
    )
}}

with

-- not materialized: DuckDB materializes a CTE read more than once, which here copied every
-- staged event each night before the few rows a night needs were picked (docs/incremental.md)
events as not materialized (

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

    select web_event_id, visitor_id, occurred_at from events
    where _loaded_at > {{ since }}

),

first_new_events as (

    select
        visitor_id,
        min(occurred_at) as first_new_at,
        {{ arg_min('web_event_id', ['occurred_at', 'web_event_id']) }} as first_new_event_id

    from new_events
    group by visitor_id

),

anchors as (

    -- the last event built before the visitor's first new one: the new events continue from it
    select
        built.visitor_id,
        -- time, session and event numbers all grow in (occurred_at, web_event_id) order, so the
        -- anchor's are the largest
        max(built.occurred_at) as anchor_at,
        max(built.visitor_session_number) as anchor_session_number,
        max(built.visitor_event_number) as anchor_event_number,
        -- a visitor's rows share one customer: another one now means every row changes
        bool_or(built.customer_id is distinct from visitors.customer_id) as has_new_customer

    from {{ this }} as built
    inner join first_new_events
        on built.visitor_id = first_new_events.visitor_id
    left join visitors
        on built.visitor_id = visitors.visitor_id
    where built.occurred_at < first_new_events.first_new_at
        or (
            built.occurred_at = first_new_events.first_new_at
            and built.web_event_id < first_new_events.first_new_event_id
        )
    group by built.visitor_id

),

resent_events as (

    -- an event sent again may have moved in time or to another visitor: both visitors, whole
    select
        built.visitor_id as built_visitor_id,
        new_events.visitor_id

    from {{ this }} as built
    inner join new_events
        on built.web_event_id = new_events.web_event_id

),

whole_visitors as (

    select built_visitor_id as visitor_id from resent_events

    union

    select visitor_id from resent_events

    union

    select first_new_events.visitor_id
    from first_new_events
    left join anchors
        on first_new_events.visitor_id = anchors.visitor_id
    where anchors.visitor_id is null or anchors.has_new_customer

    union

    select visitors.visitor_id
    from visitors
    inner join customers
        on visitors.customer_id = customers.customer_id
    where customers._first_loaded_at > {{ since }}

),

rebuilt_from as (

    -- per visitor sessionized again: from which event on, and the event before it (none: whole)
    select
        first_new_events.visitor_id,
        first_new_events.first_new_at,
        first_new_events.first_new_event_id,
        anchors.anchor_at,
        anchors.anchor_session_number,
        anchors.anchor_event_number

    from first_new_events
    inner join anchors
        on first_new_events.visitor_id = anchors.visitor_id
    where not exists (
        select 1 from whole_visitors
        where whole_visitors.visitor_id = first_new_events.visitor_id
    )

    union all

    select
        visitor_id,
        null as first_new_at,
        null as first_new_event_id,
        null as anchor_at,
        0 as anchor_session_number,
        0 as anchor_event_number

    from whole_visitors

),

{% endif -%}

gaps as (

    {%- set previous_at -%}
        lag(events.occurred_at) over (
            partition by events.visitor_id
            order by events.occurred_at, events.web_event_id
        )
    {%- endset %}

    select
        events.*,
        visitors.customer_id as resolved_customer_id,
        {% if is_incremental() -%}
        rebuilt_from.anchor_session_number as previous_session_number,
        rebuilt_from.anchor_event_number as previous_event_number,
        {%- set previous_at = 'coalesce(' ~ previous_at ~ ', rebuilt_from.anchor_at)' %}
        {% else -%}
        0 as previous_session_number,
        0 as previous_event_number,
        {% endif -%}
        coalesce(
            {{ epoch_seconds('events.occurred_at - ' ~ previous_at) }} > {{ var('session_gap_minutes') }} * 60,
            true
        ) as is_session_start

    from events
    left join visitors
        on events.visitor_id = visitors.visitor_id
    {% if is_incremental() -%}
    inner join rebuilt_from
        on events.visitor_id = rebuilt_from.visitor_id
    where rebuilt_from.first_new_at is null
        or events.occurred_at > rebuilt_from.first_new_at
        or (
            events.occurred_at = rebuilt_from.first_new_at
            and events.web_event_id >= rebuilt_from.first_new_event_id
        )
    {%- endif %}

),

numbered as (

    select
        *,
        previous_session_number + sum(is_session_start::integer) over visitor_order as visitor_session_number,
        previous_event_number + row_number() over visitor_order as visitor_event_number

    from gaps
    window visitor_order as (
        partition by visitor_id
        order by occurred_at, web_event_id
        rows between unbounded preceding and current row
    )

),

final as (

    select
        web_event_id,
        visitor_id || '-' || lpad(visitor_session_number::varchar, 5, '0') as session_id,
        visitor_id,
        visitor_session_number,
        visitor_event_number,
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
