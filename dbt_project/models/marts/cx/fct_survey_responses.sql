-- One row per survey response: score, its category, the touchpoint and channel it rates, and the
-- customer (never for anonymous responses).
--
-- Incremental (docs/incremental.md): each night the responses with something new are rebuilt: new
-- or re-sent responses, responses to an invitation that landed since, and responses linked (by
-- invitation, email or as built before) to a CRM customer that landed since.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='response_id',
        on_schema_change='fail',
    )
}}

with

responses as (

    select * from {{ ref('stg_surveys__responses') }}

),

invitations as (

    select * from {{ ref('stg_surveys__invitations') }}

),

customers as (

    select customer_id, email, _loaded_at from {{ ref('stg_crm__customers') }}

),

emails as (

    select * from {{ ref('int_emails_resolved') }}

),

{% if is_incremental() -%}
{%- set since = high_water_mark() -%}

new_customers as (

    select customer_id, email from customers
    where _loaded_at > {{ since }}

),

changed_responses as (

    select response_id from responses
    where _loaded_at > {{ since }}

    union

    select responses.response_id
    from responses
    inner join invitations
        on responses.invitation_id = invitations.invitation_id
    where invitations._loaded_at > {{ since }}
        or invitations.customer_id in (select customer_id from new_customers)

    union

    select response_id from responses
    where respondent_email in (select email from new_customers)

    union

    -- the customer it was linked to changed (an email moved to another account)
    select response_id from {{ this }}
    where customer_id in (select customer_id from new_customers)

),

{% endif -%}

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
        -- what the row depends on: the response, its invitation and its customer (greatest
        -- ignores nulls)
        greatest(
            responses._loaded_at,
            invitations._loaded_at,
            case when not responses.is_anonymous then coalesce(invited._loaded_at, matched._loaded_at) end
        ) as last_loaded_at

    from responses
    left join invitations
        on responses.invitation_id = invitations.invitation_id
    left join customers as invited
        on invitations.customer_id = invited.customer_id
    left join emails
        on responses.respondent_email = emails.email
    left join customers as matched
        on emails.customer_id = matched.customer_id
    {% if is_incremental() -%}
    where responses.response_id in (select response_id from changed_responses)
    {%- endif %}

),

final as (

    select
        response_id,
        invitation_id,
        customer_id,
        customer_match_rule,
        survey_type,
        touchpoint,
        channel,
        related_id,
        score,
        comment,
        is_anonymous,
        invited_at,
        responded_at,
        date_trunc('month', responded_at)::date as response_month,
        case when survey_type = 'NPS' then {{ nps_category('score') }} end as nps_category,
        case when survey_type = 'CSAT' then score >= 4 end as is_satisfied,
        case when survey_type = 'CES' then score >= 4 end as is_agree,
        {{ score_outcome('survey_type', 'score') }} as experience_outcome,
        comment is not null as has_comment,
        last_loaded_at as _loaded_at

    from attributed

)

select * from final
