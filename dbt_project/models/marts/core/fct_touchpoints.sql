-- One row per interaction on any channel: web sessions, orders and subscription changes, support
-- tickets and agent replies, survey invitations and responses. Journey stage and experience
-- outcome follow the rules in _core__models.yml.

with

sessions as (

    select * from {{ ref('fct_web_sessions') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

tickets as (

    select * from {{ ref('fct_support_tickets') }}

),

ticket_events as (

    select * from {{ ref('stg_support__ticket_events') }}

),

invitations as (

    select * from {{ ref('stg_surveys__invitations') }}

),

responses as (

    select * from {{ ref('fct_survey_responses') }}

),

customers as (

    select customer_id, signup_at from {{ ref('stg_crm__customers') }}

),

web_touchpoints as (

    select
        'web_session:' || sessions.session_id as touchpoint_id,
        'web_session' as touchpoint_type,
        sessions.session_id as source_record_id,
        sessions.customer_id,
        sessions.started_at as occurred_at,
        'web' as channel,
        case
            when sessions.has_purchase then 'purchase'
            when customers.signup_at is not null and sessions.started_at >= customers.signup_at
                then 'retention'
            when sessions.has_add_to_cart or sessions.has_begin_checkout or sessions.has_sign_up
                then 'consideration'
            else 'awareness'
        end as journey_stage,
        case
            when sessions.has_purchase then 'positive'
            when sessions.is_cart_abandoned then 'negative'
        end as experience_outcome,
        sessions.device as detail

    from sessions
    left join customers
        on sessions.customer_id = customers.customer_id

),

order_touchpoints as (

    select
        'order:' || order_id as touchpoint_id,
        case
            when order_type in ('new', 'one_off') then 'order'
            else 'subscription_change'
        end as touchpoint_type,
        order_id as source_record_id,
        customer_id,
        ordered_at as occurred_at,
        'commerce' as channel,
        case when order_type in ('new', 'one_off') then 'purchase' else 'retention' end as journey_stage,
        case
            when order_type = 'upgrade' then 'positive'
            when order_type in ('downgrade', 'cancel') then 'negative'
        end as experience_outcome,
        order_type as detail

    from orders

),

ticket_touchpoints as (

    select
        'support_ticket:' || ticket_id as touchpoint_id,
        -- a ticket the company opened (a follow-up call or email) is its contact, not a request
        case when is_outbound then 'outbound_contact' else 'support_ticket' end as touchpoint_type,
        ticket_id as source_record_id,
        customer_id,
        created_at as occurred_at,
        channel,
        -- a ticket from someone who is not a customer yet is a pre-sales question
        case when customer_id is null then 'consideration' else 'retention' end as journey_stage,
        case when not is_outbound then experience_outcome end as experience_outcome,
        priority as detail

    from tickets

),

reply_touchpoints as (

    select
        'ticket_reply:' || ticket_events.ticket_event_id as touchpoint_id,
        'ticket_reply' as touchpoint_type,
        ticket_events.ticket_event_id as source_record_id,
        tickets.customer_id,
        ticket_events.occurred_at,
        tickets.channel,
        case when tickets.customer_id is null then 'consideration' else 'retention' end as journey_stage,
        null as experience_outcome,
        ticket_events.agent_id as detail

    from ticket_events
    inner join tickets
        on ticket_events.ticket_id = tickets.ticket_id
    where ticket_events.event_type = 'agent_reply'
        and ticket_events.is_public

),

invitation_touchpoints as (

    select
        'survey_invitation:' || invitations.invitation_id as touchpoint_id,
        'survey_invitation' as touchpoint_type,
        invitations.invitation_id as source_record_id,
        customers.customer_id,
        invitations.sent_at as occurred_at,
        invitations.channel,
        'retention' as journey_stage,
        null as experience_outcome,
        invitations.survey_type || ':' || invitations.touchpoint as detail

    from invitations
    left join customers
        on invitations.customer_id = customers.customer_id

),

response_touchpoints as (

    select
        'survey_response:' || response_id as touchpoint_id,
        'survey_response' as touchpoint_type,
        response_id as source_record_id,
        customer_id,
        responded_at as occurred_at,
        channel,
        case when nps_category = 'promoter' then 'advocacy' else 'retention' end as journey_stage,
        experience_outcome,
        survey_type || ':' || touchpoint as detail

    from responses

),

unioned as (

    select * from web_touchpoints
    union all
    select * from order_touchpoints
    union all
    select * from ticket_touchpoints
    union all
    select * from reply_touchpoints
    union all
    select * from invitation_touchpoints
    union all
    select * from response_touchpoints

),

final as (

    select
        touchpoint_id,
        touchpoint_type,
        source_record_id,
        customer_id,
        occurred_at,
        channel,
        journey_stage,
        experience_outcome,
        detail,
        customer_id is null as is_anonymous

    from unioned

)

select * from final
