-- One row per help-desk ticket: the latest version of each ticket_id.

-- Incremental (docs/incremental.md): each night only the rows landed since the newest
-- `_loaded_at` staged are read; they replace the staged row of the same key when they are
-- a later version.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='ticket_id',
        on_schema_change='fail',
    )
}}

with

source as (

    select * from {{ source('support', 'tickets') }}
    {% if is_incremental() %}
    where _loaded_at > {{ high_water_mark() }}
    {% endif %}

),

renamed as (

    select
        -- ids
        {{ clean_string('ticket_id') }} as ticket_id,
        {{ clean_string('customer_id') }} as customer_id,
        {{ clean_string('agent_id') }} as agent_id,

        -- requester
        {{ normalize_email('requester_email') }} as requester_email,

        -- attributes
        {{ clean_string('channel') }} as channel,
        {{ clean_string('priority') }} as priority,
        {{ clean_string('subject') }} as subject,
        {{ clean_string('status') }} as status,

        -- timestamps (UTC)
        created_at,
        updated_at,

        -- lineage
        _source_file,
        _row_number,
        _extract_date,
        _loaded_at

    from source

),

versions as (

    {{ with_staged_versions('renamed', 'ticket_id') }}

),

deduplicated as (

    -- each daily file re-sends the tickets that changed: the latest updated_at wins, then the
    -- latest extract, then the last row of the file
    select
        *,
        row_number() over (
            partition by ticket_id
            order by
                updated_at desc,
                _extract_date desc,
                _loaded_at desc,
                _source_file desc,
                _row_number desc
        ) as version_rank

    from versions

),

final as (

    select
        ticket_id,
        customer_id,
        agent_id,
        requester_email,
        channel,
        priority,
        subject,
        status,
        created_at,
        updated_at,
        _source_file,
        _row_number,
        _extract_date,
        _loaded_at

    from deduplicated
    where version_rank = 1

)

select * from final
