-- One row per CRM account: the latest version of each customer_id.

with

source as (

    select * from {{ source('crm', 'customers') }}

),

renamed as (

    select
        -- ids
        {{ clean_string('customer_id') }} as customer_id,

        -- contact
        {{ normalize_email('email') }} as email,
        {{ clean_string('full_name') }} as full_name,

        -- attributes
        {{ clean_string('plan') }} as plan,
        {{ clean_string('region') }} as region,
        upper({{ clean_string('country') }}) as country,
        {{ clean_string('acquisition_channel') }} as acquisition_channel,
        birth_year,
        {{ clean_string('gender') }} as gender,

        -- timestamps (UTC)
        signup_at,
        updated_at,

        -- lineage
        _source_file,
        _row_number,
        _extract_date,
        _loaded_at

    from source

),

deduplicated as (

    -- each daily file re-sends the accounts that changed: the latest updated_at wins, then the
    -- latest extract, then the last row of the file
    select
        *,
        -- when the account first landed: whether a customer exists changes web attribution, a
        -- re-sent version does not (docs/incremental.md)
        min(_loaded_at) over (partition by customer_id) as _first_loaded_at,
        row_number() over (
            partition by customer_id
            order by
                updated_at desc,
                _extract_date desc,
                _loaded_at desc,
                _source_file desc,
                _row_number desc
        ) as version_rank

    from renamed

),

final as (

    select
        customer_id,
        email,
        full_name,
        plan,
        region,
        country,
        acquisition_channel,
        birth_year,
        gender,
        signup_at,
        updated_at,
        _source_file,
        _row_number,
        _extract_date,
        _loaded_at,
        _first_loaded_at

    from deduplicated
    where version_rank = 1

)

select * from final
