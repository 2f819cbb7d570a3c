-- One row per piece of customer-written feedback (survey comment, ticket subject, a ticket's first
-- customer message) with its sentiment, themes and the context it was written in: customer (never
-- for anonymous responses), touchpoint, survey and score category. The text itself is not served
-- here: survey comments are in fct_survey_responses, ticket subjects in fct_support_tickets, and
-- ticket messages (which carry names) stay in the build database.

with

texts as (

    select * from {{ ref('int_feedback_texts_scored') }}

),

responses as (

    select * from {{ ref('fct_survey_responses') }}

),

tickets as (

    select * from {{ ref('fct_support_tickets') }}

),

final as (

    select
        texts.feedback_text_id,
        texts.source,
        texts.response_id,
        texts.ticket_id,
        texts.ticket_event_id,
        -- fct_survey_responses already leaves anonymous responses unlinked
        coalesce(responses.customer_id, tickets.customer_id) as customer_id,
        coalesce(responses.is_anonymous, false) as is_anonymous,
        responses.survey_type,
        coalesce(responses.touchpoint, 'support_ticket') as touchpoint,
        coalesce(responses.channel, tickets.channel) as channel,
        responses.score,
        -- NPS by category, CSAT and CES by experience (both from metrics.sql via fct_survey_responses)
        coalesce(responses.nps_category, responses.experience_outcome) as score_category,
        texts.written_at,
        date_trunc('month', texts.written_at)::date as feedback_month,
        texts.sentiment_score,
        texts.sentiment_label,
        texts.themes,
        {{ array_size('texts.themes') }} as theme_count

    from texts
    left join responses
        on texts.response_id = responses.response_id
    left join tickets
        on texts.ticket_id = tickets.ticket_id

)

select * from final
