-- One row per order or subscription event, with the customer's order sequence.

with

orders as (

    select * from {{ ref('stg_crm__orders') }}

),

sequenced as (

    select
        order_id,
        customer_id,
        order_type,
        plan,
        quantity,
        amount,
        currency,
        ordered_at,
        date_trunc('month', ordered_at)::date as order_month,
        order_type in ('new', 'renewal', 'upgrade', 'downgrade', 'cancel') as is_subscription_event,
        order_type != 'cancel' as is_purchase,
        row_number() over (
            partition by customer_id
            order by ordered_at, order_id
        ) as customer_order_number

    from orders

),

final as (

    select
        *,
        customer_order_number = 1 as is_first_order

    from sequenced

)

select * from final
