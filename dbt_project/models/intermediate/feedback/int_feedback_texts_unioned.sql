-- One row per piece of customer-written text: every survey comment, the subject of every ticket a
-- customer opened, and each ticket's first message written by the customer. Tickets the company
-- opened itself (outbound: `created` by an agent) have a subject the company wrote, so only their
-- customer's first message counts.

with

responses as (

    select * from {{ ref('stg_surveys__responses') }}

),

tickets as (

    select * from {{ ref('stg_support__tickets') }}

),

ticket_events as (

    select * from {{ ref('stg_support__ticket_events') }}

),

outbound_tickets as (

    select distinct ticket_id
    from ticket_events
    where event_type = 'created' and author_type = 'agent'

),

survey_comments as (

    select
        'survey_comment' as source,
        response_id,
        null::varchar as ticket_id,
        null::varchar as ticket_event_id,
        comment as text,
        responded_at as written_at

    from responses
    where comment is not null

),

ticket_subjects as (

    select
        'ticket_subject' as source,
        null::varchar as response_id,
        tickets.ticket_id,
        null::varchar as ticket_event_id,
        tickets.subject as text,
        tickets.created_at as written_at

    from tickets
    left join outbound_tickets
        on tickets.ticket_id = outbound_tickets.ticket_id
    where tickets.subject is not null
        and outbound_tickets.ticket_id is null

),

customer_messages as (

    select
        *,
        -- ties on the timestamp go to the lower event id, so the choice is deterministic
        row_number() over (partition by ticket_id order by occurred_at, ticket_event_id) as message_number

    from ticket_events
    where author_type = 'customer'
        and body is not null

),

ticket_messages as (

    select
        'ticket_message' as source,
        null::varchar as response_id,
        ticket_id,
        ticket_event_id,
        body as text,
        occurred_at as written_at

    from customer_messages
    where message_number = 1

),

unioned as (

    select * from survey_comments
    union all
    select * from ticket_subjects
    union all
    select * from ticket_messages

),

final as (

    select
        source || ':' || coalesce(ticket_event_id, response_id, ticket_id) as feedback_text_id,
        source,
        response_id,
        ticket_id,
        ticket_event_id,
        text,
        written_at

    from unioned

)

select * from final
