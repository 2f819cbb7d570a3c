-- One row per survey response: score, its category, the touchpoint and channel it rates, and the
-- customer (never for anonymous responses).

with

responses as (

    select * from {{ ref('stg_surveys__responses') }}

),

invitations as (

    select * from {{ ref('stg_surveys__invitations') }}

),

customers as (

    select customer_id from {{ ref('stg_crm__customers') }}

),

emails as (

    select * from {{ ref('int_emails_resolved') }}

),

attributed as (

    select
        responses.response_id,
        responses.invitation_id,
        case
            when responses.is_anonymous then null
            else coalesce(invited.customer_id, emails.customer_id)
        end as customer_id,
        case
            when responses.is_anonymous then 'anonymous'
            when invited.customer_id is not null then 'invitation'
            when emails.customer_id is not null then 'email'
            else 'unmatched'
        end as customer_match_rule,
        responses.survey_type,
        responses.touchpoint,
        -- unsolicited responses (no invitation) come from the website widget
        coalesce(invitations.channel, 'web') as channel,
        invitations.related_id,
        responses.score,
        {{ mask_personal_data('responses.comment') }} as comment,
        responses.is_anonymous,
        invitations.sent_at as invited_at,
        responses.responded_at,

    from responses
    left join invitations
        on responses.invitation_id = invitations.invitation_id
    left join customers as invited
        on invitations.customer_id = invited.customer_id
    left join emails
        on responses.respondent_email = emails.email

),

final as (

    select
        *,
        date_trunc('month', responded_at)::date as response_month,
        case when survey_type = 'NPS' then {{ nps_category('score') }} end as nps_category,
        case when survey_type = 'CSAT' then score >= 4 end as is_satisfied,
        case when survey_type = 'CES' then score >= 4 end as is_agree,
        {{ score_outcome('survey_type', 'score') }} as experience_outcome,
        comment is not null as has_comment,

    from attributed

)

select * from final
