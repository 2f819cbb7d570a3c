-- One row per survey invitation.

-- Incremental (docs/incremental.md): each night only the rows landed since the newest
-- `_loaded_at` staged are read; they replace the staged row of the same key when they are
-- a later version.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='invitation_id',
        on_schema_change='fail',
    )
}}

with

source as (

    select * from {{ source('surveys', 'invitations') }}
    {% if is_incremental() %}
    where _loaded_at > {{ high_water_mark() }}
    {% endif %}

),

renamed as (

    select
        -- ids
        {{ clean_string('invitation_id') }} as invitation_id,
        {{ clean_string('customer_id') }} as customer_id,
        {{ clean_string('related_id') }} as related_id,

        -- attributes
        {{ clean_string('survey_type') }} as survey_type,
        {{ clean_string('touchpoint') }} as touchpoint,
        {{ clean_string('channel') }} as channel,

        -- timestamps (UTC)
        sent_at,

        -- lineage
        _source_file,
        _row_number,
        _extract_date,
        _loaded_at

    from source

),

versions as (

    {{ with_staged_versions('renamed', 'invitation_id') }}

),

deduplicated as (

    -- an invitation is sent once: if its id was sent again, the latest extract wins
    select
        *,
        row_number() over (
            partition by invitation_id
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
        invitation_id,
        customer_id,
        related_id,
        survey_type,
        touchpoint,
        channel,
        sent_at,
        _source_file,
        _row_number,
        _extract_date,
        _loaded_at

    from deduplicated
    where version_rank = 1

)

select * from final
