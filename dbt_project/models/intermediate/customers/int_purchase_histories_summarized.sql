-- One row per customer with a purchase in the calibration period: the repeat-purchase summary
-- (x, t_x, T, zbar) the lifetime-value models are fitted on. Purchases on the same calendar day
-- count as one purchase, because the models describe purchase occasions, not order lines.
-- The calibration period ends on var('clv_calibration_end'), else on the warehouse's as-of date
-- (int_as_of_dates_derived).

{%- set calibration_end = var('clv_calibration_end') %}

with

orders as (

    select * from {{ ref('fct_orders') }}

),

as_of as (

    select * from {{ ref('int_as_of_dates_derived') }}

),

calibration as (

    {% if calibration_end -%}
    select cast('{{ calibration_end }}' as date) as calibration_end_date
    {%- else -%}
    select as_of_date as calibration_end_date from as_of
    {%- endif %}

),

purchase_days as (

    select
        orders.customer_id,
        orders.ordered_at::date as purchase_date,
        sum(orders.amount) as day_amount

    from orders
    cross join calibration
    where
        orders.is_purchase
        and orders.ordered_at::date <= calibration.calibration_end_date
    group by orders.customer_id, orders.ordered_at::date

),

flagged as (

    select
        *,
        purchase_date > min(purchase_date) over (partition by customer_id) as is_repeat

    from purchase_days

),

summarized as (

    select
        customer_id,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date,
        count(*) as purchase_days,
        sum(day_amount) as total_revenue,
        -- mean spend of the repeat days only: the first purchase is often atypical
        coalesce(avg(day_amount) filter (where is_repeat), 0)::{{ type_double() }} as average_repeat_value

    from flagged
    group by customer_id

),

final as (

    select
        summarized.customer_id,
        calibration.calibration_end_date,
        summarized.first_purchase_date,
        summarized.last_purchase_date,
        summarized.purchase_days,
        summarized.purchase_days - 1 as frequency,
        {{ dbt.datediff('summarized.first_purchase_date', 'summarized.last_purchase_date', 'day') }}::{{ type_double() }} / 7
            as recency_weeks,
        {{ dbt.datediff('summarized.first_purchase_date', 'calibration.calibration_end_date', 'day') }}::{{ type_double() }} / 7
            as tenure_weeks,
        summarized.average_repeat_value,
        summarized.total_revenue

    from summarized
    cross join calibration

)

select * from final
