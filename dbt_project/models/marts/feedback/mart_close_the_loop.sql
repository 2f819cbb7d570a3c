-- One row per survey response the company must follow up: NPS detractors and passives, CSAT and
-- CES of 1 or 2, from customers it can name (never anonymous responses, nor ones it could not link
-- to a customer). Each gets the owning team and SLA of its touchpoint (close_the_loop_owners seed),
-- the first company contact with the customer after the response (an outbound ticket opened by an
-- agent, or a public agent reply on any of the customer's tickets) and a status at the as-of date.

with

responses as (

    select * from {{ ref('fct_survey_responses') }}

),

tickets as (

    select * from {{ ref('fct_support_tickets') }}

),

ticket_events as (

    select * from {{ ref('stg_support__ticket_events') }}

),

owners as (

    select * from {{ ref('close_the_loop_owners') }}

),

as_of as (

    select * from {{ ref('int_as_of_dates_derived') }}

),

needing_follow_up as (

    select
        responses.response_id,
        responses.customer_id,
        responses.survey_type,
        responses.touchpoint,
        responses.channel,
        responses.related_id,
        responses.score,
        coalesce(responses.nps_category, responses.experience_outcome) as score_category,
        responses.responded_at

    from responses
    cross join as_of
    where not responses.is_anonymous
        and responses.customer_id is not null
        and responses.responded_at < as_of.as_of_at
        and (
            responses.nps_category in ('detractor', 'passive')
            or (responses.survey_type in ('CSAT', 'CES') and responses.experience_outcome = 'negative')
        )

),

company_contacts as (

    -- a ticket the company opened (outbound: created by an agent) or a public agent reply
    select
        tickets.customer_id,
        ticket_events.ticket_id,
        case when ticket_events.event_type = 'created' then 'outbound_ticket' else 'agent_reply' end
            as contact_type,
        ticket_events.occurred_at as contacted_at

    from ticket_events
    inner join tickets
        on ticket_events.ticket_id = tickets.ticket_id
    where tickets.customer_id is not null
        and (
            (ticket_events.event_type = 'created' and ticket_events.author_type = 'agent')
            or (ticket_events.event_type = 'agent_reply' and ticket_events.is_public)
        )

),

contacts_after_response as (

    select
        needing_follow_up.response_id,
        company_contacts.ticket_id,
        company_contacts.contact_type,
        company_contacts.contacted_at,
        -- ties at the same moment go to the outbound ticket: it is the deliberate contact
        row_number() over (
            partition by needing_follow_up.response_id
            order by
                company_contacts.contacted_at,
                company_contacts.contact_type <> 'outbound_ticket',
                company_contacts.ticket_id
        ) as contact_rank

    from needing_follow_up
    cross join as_of
    inner join company_contacts
        on needing_follow_up.customer_id = company_contacts.customer_id
        and company_contacts.contacted_at > needing_follow_up.responded_at
        and company_contacts.contacted_at < as_of.as_of_at

),

first_contacts as (

    select
        response_id,
        contacted_at as first_contacted_at,
        contact_type as first_contact_type,
        ticket_id as first_contact_ticket_id

    from contacts_after_response
    where contact_rank = 1

),

assigned as (

    select
        needing_follow_up.*,
        owners.owning_team,
        owners.sla_hours,
        {{ dbt.dateadd('hour', 'owners.sla_hours', 'needing_follow_up.responded_at') }} as due_at,
        first_contacts.first_contacted_at,
        first_contacts.first_contact_type,
        first_contacts.first_contact_ticket_id

    from needing_follow_up
    left join owners
        on needing_follow_up.touchpoint = owners.touchpoint
    left join first_contacts
        on needing_follow_up.response_id = first_contacts.response_id

),

final as (

    select
        assigned.*,
        case
            when assigned.first_contacted_at is not null then 'contacted'
            when assigned.due_at < as_of.as_of_at then 'overdue'
            else 'open'
        end as status,
        {{ round_number(dbt.datediff('assigned.responded_at', 'assigned.first_contacted_at', 'second') ~ ' / 3600.0', 2) }}
            as hours_to_contact,
        case
            when assigned.first_contacted_at is not null then assigned.first_contacted_at <= assigned.due_at
            when assigned.due_at < as_of.as_of_at then false
        end as is_contacted_within_sla,
        as_of.as_of_date

    from assigned
    cross join as_of

)

select * from final
