-- One row per web-analytics event.

-- Incremental (docs/incremental.md): each night only the rows landed since the newest
-- `_loaded_at` staged are read; they replace the staged row of the same key when they are
-- a later version.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='web_event_id',
        on_schema_change='fail',
    )
}}

with

source as (

    select * from {{ source('web', 'events') }}
    {% if is_incremental() %}
    where _loaded_at > {{ high_water_mark() }}
    {% endif %}

),

renamed as (

    select
        -- ids
        {{ clean_string('event_id') }} as web_event_id,
        {{ clean_string('visitor_id') }} as visitor_id,
        {{ clean_string('customer_id') }} as customer_id,
        {{ clean_string('order_id') }} as order_id,

        -- attributes
        {{ clean_string('event_name') }} as event_name,
        {{ clean_string('page_path') }} as page_path,
        {{ clean_string('referrer') }} as referrer,
        {{ clean_string('utm_source') }} as utm_source,
        {{ clean_string('utm_medium') }} as utm_medium,
        {{ clean_string('utm_campaign') }} as utm_campaign,
        {{ clean_string('device') }} as device,

        -- amounts
        revenue,

        -- timestamps (UTC)
        occurred_at,

        -- lineage
        _source_file,
        _row_number,
        _extract_date,
        _loaded_at

    from source

),

versions as (

    {{ with_staged_versions('renamed', 'web_event_id') }}

),

deduplicated as (

    -- an event is immutable: if its id was sent again, the latest extract wins
    select
        *,
        row_number() over (
            partition by web_event_id
            order by
                _extract_date desc,
                _loaded_at desc,
                _source_file desc,
                _row_number desc
        ) as version_rank

    from versions

),

final as (

    select
        web_event_id,
        visitor_id,
        customer_id,
        order_id,
        event_name,
        page_path,
        referrer,
        utm_source,
        utm_medium,
        utm_campaign,
        device,
        revenue,
        occurred_at,
        _source_file,
        _row_number,
        _extract_date,
        _loaded_at

    from deduplicated
    where version_rank = 1

)

select * from final
