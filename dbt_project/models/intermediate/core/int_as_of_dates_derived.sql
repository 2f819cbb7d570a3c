-- The one date the warehouse is "as of": var('as_of_date'), or else the last day with data in
-- any source, so that the same extracts give the same marts whatever day the build runs.

with

orders as (

    select max(ordered_at) as last_at from {{ ref('stg_crm__orders') }}

),

customers as (

    select max(updated_at) as last_at from {{ ref('stg_crm__customers') }}

),

tickets as (

    select max(updated_at) as last_at from {{ ref('stg_support__tickets') }}

),

ticket_events as (

    select max(occurred_at) as last_at from {{ ref('stg_support__ticket_events') }}

),

web_events as (

    select max(occurred_at) as last_at from {{ ref('stg_web__events') }}

),

invitations as (

    select max(sent_at) as last_at from {{ ref('stg_surveys__invitations') }}

),

responses as (

    select max(responded_at) as last_at from {{ ref('stg_surveys__responses') }}

),

last_data as (

    select
        greatest(
            orders.last_at,
            customers.last_at,
            tickets.last_at,
            ticket_events.last_at,
            web_events.last_at,
            invitations.last_at,
            responses.last_at
        )::date as last_data_date

    from orders
    cross join customers
    cross join tickets
    cross join ticket_events
    cross join web_events
    cross join invitations
    cross join responses

),

as_of as (

    select
        {% if var('as_of_date') -%}
        cast('{{ var("as_of_date") }}' as date) as as_of_date,
        {%- else -%}
        last_data_date as as_of_date,
        {%- endif %}
        last_data_date

    from last_data

),

final as (

    select
        as_of_date,
        -- exclusive end of the as-of day: everything before it has happened
        (as_of_date + interval '1 day')::timestamp as as_of_at,
        date_trunc('month', as_of_date)::date as as_of_month,
        last_data_date

    from as_of

)

select * from final
