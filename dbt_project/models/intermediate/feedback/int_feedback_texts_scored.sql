-- One row per feedback text (int_feedback_texts_unioned) with its sentiment (scored once per
-- distinct text by int_feedback_sentiments_scored) and the themes it mentions (at least one:
-- 'other' when none).

with

texts as (

    select * from {{ ref('int_feedback_texts_unioned') }}

),

sentiments as (

    select * from {{ ref('int_feedback_sentiments_scored') }}

),

theme_matches as (

    select * from {{ ref('int_feedback_themes_matched') }}

),

themes as (

    select
        feedback_text_id,
        array_agg(theme order by theme) as themes

    from theme_matches
    group by feedback_text_id

),

final as (

    select
        texts.feedback_text_id,
        texts.source,
        texts.response_id,
        texts.ticket_id,
        texts.ticket_event_id,
        texts.text,
        texts.written_at,
        sentiments.sentiment_score,
        sentiments.sentiment_label,
        themes.themes

    from texts
    left join sentiments
        on texts.text = sentiments.text
    left join themes
        on texts.feedback_text_id = themes.feedback_text_id

)

select * from final
