-- One row per normalised email known to the CRM, with the one customer it resolves to.
-- Survivorship when several accounts share an email: the most recently created account wins
-- (it is the one the person uses now), ties to the lowest customer_id.

with

customers as (

    select * from {{ ref('stg_crm__customers') }}

),

ranked as (

    select
        email,
        customer_id,
        count(*) over (partition by email) as accounts_with_email,
        row_number() over (
            partition by email
            order by signup_at desc, customer_id asc
        ) as survivorship_rank

    from customers
    where email is not null

),

final as (

    select
        email,
        customer_id,
        accounts_with_email,
        accounts_with_email > 1 as has_conflict

    from ranked
    where survivorship_rank = 1

)

select * from final
