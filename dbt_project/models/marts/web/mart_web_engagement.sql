-- Web engagement by day and by month, channel group and device, with the totals over each
-- dimension ('all') and over the whole history (period_type 'all'). A session counts on the UTC
-- day and month it started. Rates are shares from 0 to 1, defined in macros/metrics.sql.
--
-- Incremental (docs/incremental.md): each night the months touched by a changed session are
-- recomputed whole (days and month): the months a session with new input starts and ends in, and
-- the months of each new event and of the day before it (a session it joined or left may have
-- started then). The whole-history rows are recomputed from every session (distinct visitors and
-- customers cannot be updated from a delta).

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key="period_type || coalesce(cast(period_start as varchar), '')",
        on_schema_change='fail',
    )
}}

with

-- not materialized: DuckDB materializes a CTE read more than once, which here copied every
-- session each night before the few rows a night needs were picked (docs/incremental.md)
sessions as not materialized (

    select * from {{ ref('fct_web_sessions') }}

),

-- not materialized: DuckDB materializes a CTE read more than once, which here copied every
-- sessionized event each night before the few rows a night needs were picked (docs/incremental.md)
events as not materialized (

    select * from {{ ref('int_web_events_sessionized') }}

),

{% if is_incremental() -%}
{%- set since = high_water_mark() -%}

changed_months as (

    select date_trunc('month', started_at) as month_start from sessions
    where _loaded_at > {{ since }}

    union

    select date_trunc('month', ended_at) from sessions
    where _loaded_at > {{ since }}

    union

    select date_trunc('month', occurred_at) from events
    where _loaded_at > {{ since }}

    union

    select date_trunc('month', {{ dbt.dateadd('day', -1, 'occurred_at') }}) from events
    where _loaded_at > {{ since }}

),

{% endif -%}

-- not materialized: read twice too (the months a night recomputes, and the whole history), and the
-- copy of every session cost the M night about 2 s
session_facts as not materialized (

    select
        started_at::date as session_date,
        date_trunc('month', started_at)::date as session_month,
        channel_group,
        -- a missing device must not read as a total row
        coalesce(device, 'unknown') as device,
        session_id,
        visitor_id,
        customer_id,
        is_identified,
        is_engaged,
        is_bounce,
        engagement_seconds,
        page_views,
        is_converted,
        has_purchase,
        has_sign_up,
        has_add_to_cart or has_begin_checkout as has_cart,
        is_cart_abandoned,
        revenue,
        _loaded_at

    from sessions

),

period_facts as (

    select * from session_facts
    {% if is_incremental() -%}
    where session_month in (select cast(month_start as date) from changed_months)
    {%- endif %}

),

{% set measures -%}
        count(*) as sessions,
        count(distinct visitor_id) as visitors,
        count(*) filter (where is_identified) as identified_sessions,
        count(distinct customer_id) as customers,
        count(*) filter (where is_engaged) as engaged_sessions,
        count(*) filter (where is_bounce) as bounced_sessions,
        {{ exact_avg('engagement_seconds', 6) }} as average_engagement_seconds,
        sum(page_views)::bigint as page_views,
        count(*) filter (where is_converted) as converted_sessions,
        count(*) filter (where has_purchase) as purchase_sessions,
        count(*) filter (where has_sign_up) as sign_up_sessions,
        count(*) filter (where has_cart) as cart_sessions,
        count(*) filter (where is_cart_abandoned) as abandoned_cart_sessions,
        sum(revenue) as revenue,
        max(_loaded_at) as _loaded_at
{%- endset %}

aggregated as (

    select
        case when grouping(session_date) = 0 then 'day' else 'month' end as period_type,
        coalesce(session_date, session_month) as period_start,
        coalesce(channel_group, 'all') as channel_group,
        coalesce(device, 'all') as device,
{{ measures }}

    from period_facts
    group by
        grouping sets ((session_date), (session_month)),  -- noqa: PRS
        cube (channel_group, device)

    union all  -- noqa: PRS

    select
        'all' as period_type,
        null as period_start,
        coalesce(channel_group, 'all') as channel_group,
        coalesce(device, 'all') as device,
{{ measures }}

    from session_facts
    group by cube (channel_group, device)

),

final as (

    select
        period_type,
        period_start,
        channel_group,
        device,
        sessions,
        visitors,
        identified_sessions,
        customers,
        engaged_sessions,
        {{ web_engagement_rate('engaged_sessions', 'sessions') }} as engagement_rate,
        bounced_sessions,
        {{ web_bounce_rate('bounced_sessions', 'sessions') }} as bounce_rate,
        {{ round_number('average_engagement_seconds', 1) }} as average_engagement_seconds,
        page_views,
        {{ round_number('page_views::' ~ type_double() ~ ' / sessions', 2) }} as page_views_per_session,
        converted_sessions,
        purchase_sessions,
        sign_up_sessions,
        {{ web_conversion_rate('converted_sessions', 'sessions') }} as conversion_rate,
        cart_sessions,
        abandoned_cart_sessions,
        {{ cart_abandonment_rate('abandoned_cart_sessions', 'cart_sessions') }} as cart_abandonment_rate,
        round(revenue, 2) as revenue,
        _loaded_at

    from aggregated

)

select * from final
