-- One row per support ticket: who it belongs to, when it was first answered and solved, and
-- whether it was a good or a bad experience.

with

tickets as (

    select * from {{ ref('stg_support__tickets') }}

),

ticket_events as (

    select * from {{ ref('stg_support__ticket_events') }}

),

customers as (

    select customer_id from {{ ref('stg_crm__customers') }}

),

emails as (

    select * from {{ ref('int_emails_resolved') }}

),

event_summary as (

    select
        ticket_id,
        min(occurred_at) filter (
            where event_type = 'agent_reply' and is_public
        ) as first_reply_at,
        min(occurred_at) filter (where event_type = 'solved') as first_solved_at,
        max(occurred_at) filter (where event_type = 'solved') as last_solved_at,
        max(occurred_at) filter (where event_type = 'closed') as closed_at,
        count(*) filter (where event_type = 'reopened') as reopen_count,
        count(*) filter (where event_type = 'agent_reply' and is_public) as agent_reply_count,
        count(*) filter (where event_type = 'customer_reply') as customer_reply_count,
        arg_max(csat_score, occurred_at) filter (
            where event_type = 'csat_rated' and csat_score is not null
        ) as csat_score,

    from ticket_events
    group by ticket_id

),

attributed as (

    select
        tickets.ticket_id,
        -- the help desk's own link wins; otherwise the requester's email, resolved
        coalesce(linked.customer_id, emails.customer_id) as customer_id,
        case
            when linked.customer_id is not null then 'crm_id'
            when emails.customer_id is not null then 'email'
            else 'unmatched'
        end as customer_match_rule,
        tickets.agent_id,
        tickets.channel,
        tickets.priority,
        {{ mask_personal_data('tickets.subject') }} as subject,
        tickets.status,
        tickets.created_at,
        tickets.updated_at,

    from tickets
    left join customers as linked
        on tickets.customer_id = linked.customer_id
    left join emails
        on tickets.requester_email = emails.email

),

measured as (

    select
        attributed.*,
        event_summary.first_reply_at,
        event_summary.first_solved_at,
        event_summary.last_solved_at,
        event_summary.closed_at,
        coalesce(event_summary.reopen_count, 0) as reopen_count,
        coalesce(event_summary.agent_reply_count, 0) as agent_reply_count,
        coalesce(event_summary.customer_reply_count, 0) as customer_reply_count,
        event_summary.csat_score,
        date_diff('minute', attributed.created_at, event_summary.first_reply_at) as first_reply_minutes,
        date_diff('minute', attributed.created_at, event_summary.last_solved_at) as full_resolution_minutes,

    from attributed
    left join event_summary
        on attributed.ticket_id = event_summary.ticket_id

),

final as (

    select
        *,
        customer_id is not null as is_customer,
        reopen_count > 0 as is_reopened,
        first_solved_at is not null as is_solved,
        first_reply_minutes > {{ var('slow_first_reply_hours') }} * 60 as is_slow_first_reply,
        -- negative first: one poor experience outweighs the rest
        case
            when reopen_count > 0
                or first_reply_minutes > {{ var('slow_first_reply_hours') }} * 60
                or csat_score <= 2
                then 'negative'
            when csat_score >= 4
                or (first_solved_at is not null and first_reply_minutes <= 60)
                then 'positive'
            else 'neutral'
        end as experience_outcome,

    from measured

)

select * from final
