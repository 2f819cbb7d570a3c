-- One row per web session (a visitor's events with no gap over var('session_gap_minutes')), with
-- its traffic source and channel group (seed web_channel_groups: the matching rule with the lowest
-- priority wins, 'Unassigned' when none matches) and its engagement (docs/web.md).
--
-- Incremental (docs/incremental.md): each night the sessions of every visitor with something new
-- are rebuilt (its session numbers may have moved): a visitor with a new or re-sessionized event, a
-- visitor whose CRM customer landed since, or one whose event count changed (an event sent again
-- under another visitor id); a visitor left with no event loses its sessions (post-hook).

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='visitor_id',
        on_schema_change='fail',
        post_hook="""
            {% if is_incremental() %}
            delete from {{ this }} as built
            where not exists (
                select 1 from {{ ref('int_web_events_sessionized') }} as events
                where events.visitor_id = built.visitor_id
            )
            {% endif %}
        """,
    )
}}

with

-- not materialized: DuckDB materializes a CTE read more than once, which here copied every
-- sessionized event each night before the few rows a night needs were picked (docs/incremental.md)
events as not materialized (

    select * from {{ ref('int_web_events_sessionized') }}

),

channel_rules as (

    select * from {{ ref('web_channel_groups') }}

),

visitors as (

    select * from {{ ref('int_visitors_resolved') }}

),

customers as (

    select customer_id, _first_loaded_at from {{ ref('stg_crm__customers') }}

),

{% if is_incremental() -%}
{%- set since = high_water_mark() -%}

changed_visitors as (

    select visitor_id from events
    where _loaded_at > {{ since }}

    union

    select visitors.visitor_id
    from visitors
    inner join customers
        on visitors.customer_id = customers.customer_id
    where customers._first_loaded_at > {{ since }}

    union

    select coalesce(built.visitor_id, current_events.visitor_id)
    from (
        select visitor_id, sum(events) as events from {{ this }} group by visitor_id
    ) as built
    full outer join (
        select visitor_id, count(*) as events from events group by visitor_id
    ) as current_events
        on built.visitor_id = current_events.visitor_id
    where built.events is distinct from current_events.events

),

{% endif -%}

visitor_events as (

    select * from events
    {% if is_incremental() -%}
    where visitor_id in (select visitor_id from changed_visitors)
    {%- endif %}

),

identifications as (

    -- the event that resolved the visitor to its customer (as int_visitors_resolved picks it)
    select
        visitor_id,
        {{ arg_min('_loaded_at', 'visitor_event_number', where='event_customer_id is not null') }}
            as identified_loaded_at

    from visitor_events
    group by visitor_id

),

sessions as (

    select
        session_id,
        visitor_id,
        -- one customer per visitor, so per session
        max(customer_id) as customer_id,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        count(*) as events,
        count(*) filter (where event_name = 'page_view') as page_views,
        {{ arg_min('page_path', 'visitor_event_number', where="event_name = 'page_view'") }}
            as landing_page_path,
        -- the landing hit's, null included: a later hit's tags do not make the session's source
        {{ arg_min('referrer', 'visitor_event_number', keep_nulls=true) }} as referrer,
        {{ arg_min('utm_source', 'visitor_event_number', keep_nulls=true) }} as utm_source,
        {{ arg_min('utm_medium', 'visitor_event_number', keep_nulls=true) }} as utm_medium,
        {{ arg_min('utm_campaign', 'visitor_event_number', keep_nulls=true) }} as utm_campaign,
        {{ arg_min('device', 'visitor_event_number', keep_nulls=true) }} as device,
        bool_or(event_customer_id is not null) as is_logged_in,
        bool_or(event_name = 'sign_up') as has_sign_up,
        bool_or(event_name = 'add_to_cart') as has_add_to_cart,
        bool_or(event_name = 'begin_checkout') as has_begin_checkout,
        bool_or(event_name = 'purchase') as has_purchase,
        coalesce(sum(revenue), 0) as revenue,
        max(_loaded_at) as events_loaded_at

    from visitor_events
    group by session_id, visitor_id

),

with_referrer_host as (

    select
        *,
        -- the host of the referring URL, lower case, without a leading www.
        nullif(
            regexp_replace(
                {{ regexp_first_group('lower(referrer)', "'^(?:[a-z][a-z0-9+.-]*://)?([^/:?#]+)'") }},
                '^www\.',
                ''
            ),
            ''
        ) as referrer_host

    from sessions

),

with_source as (

    -- GA4's source / medium of a session without UTM tags: a referrer gives (host, referral),
    -- nothing gives (direct) / (none)
    select
        *,
        lower(coalesce(utm_source, referrer_host, '(direct)')) as session_source,
        lower(
            coalesce(
                utm_medium,
                case
                    when utm_source is not null then '(not set)'
                    when referrer_host is not null then 'referral'
                    else '(none)'
                end
            )
        ) as session_medium

    from with_referrer_host

),

traffic as (

    select distinct
        session_source,
        session_medium,
        referrer_host,
        utm_campaign
    from with_source

),

traffic_grouped as (

    -- matched once per distinct traffic combination (a few dozen), not per session
    select
        traffic.session_source,
        traffic.session_medium,
        traffic.referrer_host,
        traffic.utm_campaign,
        coalesce(
            {{ arg_min('channel_rules.channel_group', 'channel_rules.priority') }},
            'Unassigned'
        ) as channel_group

    from traffic
    left join channel_rules
        on (
            channel_rules.source_pattern is null
            or {{ regexp_full_match('traffic.session_source', 'channel_rules.source_pattern', ignore_case=true) }}
        )
        and (
            channel_rules.medium_pattern is null
            or {{ regexp_full_match('traffic.session_medium', 'channel_rules.medium_pattern', ignore_case=true) }}
        )
        and (
            channel_rules.referrer_pattern is null
            or {{ regexp_full_match('traffic.referrer_host', 'channel_rules.referrer_pattern', ignore_case=true) }}
        )
        and (
            channel_rules.campaign_pattern is null
            or {{ regexp_full_match('traffic.utm_campaign', 'channel_rules.campaign_pattern', ignore_case=true) }}
        )
    group by traffic.session_source, traffic.session_medium, traffic.referrer_host, traffic.utm_campaign

),

engagement as (

    select
        with_source.*,
        traffic_grouped.channel_group,
        {{ dbt.datediff('with_source.started_at', 'with_source.ended_at', 'second') }} as duration_seconds,
        -- hits carry no duration: time after the last event is unknown, so one event gives 0
        {{ epoch_seconds('with_source.ended_at - with_source.started_at') }} as engagement_seconds,
        with_source.has_purchase or with_source.has_sign_up as is_converted

    from with_source
    left join traffic_grouped
        on with_source.session_source = traffic_grouped.session_source
        and with_source.session_medium = traffic_grouped.session_medium
        and with_source.referrer_host is not distinct from traffic_grouped.referrer_host
        and with_source.utm_campaign is not distinct from traffic_grouped.utm_campaign

),

engaged as (

    select
        engagement.*,
        -- what the session row depends on: its events, the event that identified its visitor and
        -- the CRM customer it is attributed to (greatest ignores nulls)
        greatest(
            engagement.events_loaded_at,
            identifications.identified_loaded_at,
            customers._first_loaded_at
        ) as last_loaded_at,
        engagement_seconds > {{ var('engaged_session_min_seconds') }}
        or is_converted
        or page_views >= {{ var('engaged_session_min_page_views') }} as is_engaged

    from engagement
    left join identifications
        on engagement.visitor_id = identifications.visitor_id
    left join customers
        on engagement.customer_id = customers.customer_id

),

final as (

    select
        session_id,
        visitor_id,
        customer_id,
        started_at,
        ended_at,
        events,
        page_views,
        landing_page_path,
        referrer,
        utm_source,
        utm_medium,
        utm_campaign,
        device,
        is_logged_in,
        has_sign_up,
        has_add_to_cart,
        has_begin_checkout,
        has_purchase,
        revenue,
        duration_seconds,
        customer_id is not null as is_identified,
        (has_add_to_cart or has_begin_checkout) and not has_purchase as is_cart_abandoned,
        referrer_host,
        session_source,
        session_medium,
        channel_group,
        engagement_seconds,
        is_converted,
        is_engaged,
        not is_engaged as is_bounce,
        last_loaded_at as _loaded_at

    from engaged

)

select * from final
