-- One row per ticket history event (creation, replies, status changes, CSAT ratings, ...).

-- Incremental (docs/incremental.md): each night only the rows landed since the newest
-- `_loaded_at` staged are read; they replace the staged row of the same key when they are
-- a later version.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='ticket_event_id',
        on_schema_change='fail',
    )
}}

with

source as (

    select * from {{ source('support', 'ticket_events') }}
    {% if is_incremental() %}
    where _loaded_at > {{ high_water_mark() }}
    {% endif %}

),

renamed as (

    select
        -- ids
        {{ clean_string('event_id') }} as ticket_event_id,
        {{ clean_string('ticket_id') }} as ticket_id,
        {{ clean_string('agent_id') }} as agent_id,

        -- attributes
        {{ clean_string('event_type') }} as event_type,
        {{ clean_string('author_type') }} as author_type,
        {{ clean_string('status') }} as status,
        csat_score,
        {{ clean_string('body') }} as body,

        -- booleans
        is_public,

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

    {{ with_staged_versions('renamed', 'ticket_event_id') }}

),

deduplicated as (

    -- an event is immutable: if its id was sent again, the latest extract wins
    select
        *,
        row_number() over (
            partition by ticket_event_id
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
        ticket_event_id,
        ticket_id,
        agent_id,
        event_type,
        author_type,
        status,
        csat_score,
        body,
        is_public,
        occurred_at,
        _source_file,
        _row_number,
        _extract_date,
        _loaded_at

    from deduplicated
    where version_rank = 1

)

select * from final
