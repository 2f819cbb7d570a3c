-- One row per survey answer. Anonymous answers are unlinked from any person here, at the first
-- layer, so nothing downstream can join them back to an invitation, a customer or an email.

-- Incremental (docs/incremental.md): each night only the rows landed since the newest
-- `_loaded_at` staged are read; they replace the staged row of the same key when they are
-- a later version.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='response_id',
        on_schema_change='fail',
    )
}}

with

source as (

    select * from {{ source('surveys', 'responses') }}
    {% if is_incremental() %}
    where _loaded_at > {{ high_water_mark() }}
    {% endif %}

),

renamed as (

    select
        -- ids
        {{ clean_string('response_id') }} as response_id,
        -- privacy: the respondent of an anonymous answer was promised anonymity, so the
        -- invitation (which names the customer) and the email are dropped, never staged.
        -- `not is_anonymous` is null when the flag is missing, so unknown also means unlinked.
        case
            when not is_anonymous then {{ clean_string('invitation_id') }}
        end as invitation_id,

        -- respondent
        case
            when not is_anonymous then {{ normalize_email('respondent_email') }}
        end as respondent_email,

        -- attributes
        {{ clean_string('survey_type') }} as survey_type,
        {{ clean_string('touchpoint') }} as touchpoint,
        score,
        {{ clean_string('comment') }} as comment,

        -- booleans
        is_anonymous,

        -- timestamps (UTC)
        responded_at,

        -- lineage
        _source_file,
        _row_number,
        _extract_date,
        _loaded_at

    from source

),

versions as (

    {{ with_staged_versions('renamed', 'response_id') }}

),

deduplicated as (

    -- an answer is submitted once: if its id was sent again, the latest extract wins
    select
        *,
        row_number() over (
            partition by response_id
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
        response_id,
        invitation_id,
        respondent_email,
        survey_type,
        touchpoint,
        score,
        comment,
        is_anonymous,
        responded_at,
        _source_file,
        _row_number,
        _extract_date,
        _loaded_at

    from deduplicated
    where version_rank = 1

)

select * from final
