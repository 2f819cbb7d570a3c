-- One row per order or subscription event.

with

source as (

    select * from {{ source('crm', 'orders') }}

),

renamed as (

    select
        -- ids
        {{ clean_string('order_id') }} as order_id,
        {{ clean_string('customer_id') }} as customer_id,

        -- attributes
        {{ clean_string('order_type') }} as order_type,
        {{ clean_string('plan') }} as plan,
        quantity,

        -- amounts
        amount,
        upper({{ clean_string('currency') }}) as currency,

        -- timestamps (UTC)
        ordered_at,

        -- lineage
        _source_file,
        _row_number,
        _extract_date,
        _loaded_at

    from source

),

deduplicated as (

    -- an order is an immutable event: if its id was sent again, the latest extract wins
    select
        *,
        row_number() over (
            partition by order_id
            order by
                _extract_date desc,
                _loaded_at desc,
                _source_file desc,
                _row_number desc
        ) as version_rank

    from renamed

),

final as (

    select
        order_id,
        customer_id,
        order_type,
        plan,
        quantity,
        amount,
        currency,
        ordered_at,
        _source_file,
        _row_number,
        _extract_date,
        _loaded_at

    from deduplicated
    where version_rank = 1

)

select * from final
