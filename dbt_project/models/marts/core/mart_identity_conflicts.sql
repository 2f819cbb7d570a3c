-- Identities that resolve by a rule rather than unambiguously, for data stewards to fix at the
-- source: emails shared by several CRM accounts (resolved to the survivor, see
-- int_emails_resolved) and web devices seen with several customers (resolved to the first).

with

customers as (

    select * from {{ ref('stg_crm__customers') }}

),

emails as (

    select * from {{ ref('int_emails_resolved') }}

),

visitors as (

    select * from {{ ref('int_visitors_resolved') }}

),

web_events as (

    select * from {{ ref('stg_web__events') }}

),

shared_emails as (

    select
        'shared_email' as conflict_type,
        -- the email itself stays out of the serving database; stewards find it from the account ids
        {{ sha256_hex('emails.email') }} as identifier,
        emails.customer_id as resolved_customer_id,
        string_agg(customers.customer_id, ', ' order by customers.customer_id) as customer_ids,
        count(*) as customers,
        'most recently created account wins' as resolution_rule

    from emails
    inner join customers
        on emails.email = customers.email
    where emails.has_conflict
    group by emails.email, emails.customer_id

),

shared_devices as (

    select
        'shared_device' as conflict_type,
        visitors.visitor_id as identifier,
        visitors.customer_id as resolved_customer_id,
        string_agg(distinct web_events.customer_id, ', ' order by web_events.customer_id) as customer_ids,
        count(distinct web_events.customer_id) as customers,
        'first identified customer wins' as resolution_rule

    from visitors
    inner join web_events
        on visitors.visitor_id = web_events.visitor_id
    where visitors.has_conflict
        and web_events.customer_id is not null
    group by visitors.visitor_id, visitors.customer_id

),

final as (

    select * from shared_emails
    union all
    select * from shared_devices

)

select * from final
