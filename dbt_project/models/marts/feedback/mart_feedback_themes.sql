-- What customers write about, by month, source, touchpoint, survey type, score category and theme:
-- how many texts mention the theme, what share of the group's texts that is, their average
-- sentiment and share negative, and a few example survey comments (masked). A text can mention
-- several themes, so a group's shares add up to 100% or more. Ticket texts have no survey type or
-- score category (null).

with

feedback as (

    select * from {{ ref('fct_feedback') }}

),

texts as (

    select * from {{ ref('int_feedback_texts_scored') }}

),

mentions as (

    select
        feedback_text_id,
        source,
        feedback_month,
        touchpoint,
        survey_type,
        score_category,
        sentiment_score,
        sentiment_label,
        unnest(themes) as theme

    from feedback

),

group_sizes as (

    select
        feedback_month,
        source,
        touchpoint,
        survey_type,
        score_category,
        count(*) as texts_in_group

    from feedback
    group by feedback_month, source, touchpoint, survey_type, score_category

),

theme_stats as (

    select
        feedback_month,
        source,
        touchpoint,
        survey_type,
        score_category,
        theme,
        count(*) as mentions,
        -- a decimal sum is exact: a sum of doubles depends on the order the threads add them in, which
        -- moved the rounded average by 0.001 between runs on the same rows
        {{ exact_avg('sentiment_score', 6) }} as average_sentiment,
        count(*) filter (where sentiment_label = 'negative') as negative_mentions,
        count(*) filter (where sentiment_label = 'positive') as positive_mentions

    from mentions
    group by feedback_month, source, touchpoint, survey_type, score_category, theme

),

example_candidates as (

    -- survey comments only: ticket texts name people and are not served
    select
        mentions.feedback_month,
        mentions.source,
        mentions.touchpoint,
        mentions.survey_type,
        mentions.score_category,
        mentions.theme,
        {{ mask_personal_data('texts.text') }} as comment,
        count(*) as times_written,
        max(abs(mentions.sentiment_score)) as sentiment_strength

    from mentions
    inner join texts
        on mentions.feedback_text_id = texts.feedback_text_id
    where mentions.source = 'survey_comment'
    group by
        mentions.feedback_month,
        mentions.source,
        mentions.touchpoint,
        mentions.survey_type,
        mentions.score_category,
        mentions.theme,
        {{ mask_personal_data('texts.text') }}

),

ranked_examples as (

    -- the most often written wordings first, then the most outspoken, then alphabetically
    select
        *,
        row_number() over (
            partition by feedback_month, source, touchpoint, survey_type, score_category, theme
            order by times_written desc, sentiment_strength desc, comment asc
        ) as example_rank

    from example_candidates

),

examples as (

    select
        feedback_month,
        source,
        touchpoint,
        survey_type,
        score_category,
        theme,
        string_agg(comment, ' | ' order by example_rank) as example_comments

    from ranked_examples
    where example_rank <= {{ var('feedback_example_comments') }}
    group by feedback_month, source, touchpoint, survey_type, score_category, theme

),

final as (

    select
        theme_stats.feedback_month,
        theme_stats.source,
        theme_stats.touchpoint,
        theme_stats.survey_type,
        theme_stats.score_category,
        theme_stats.theme,
        theme_stats.mentions,
        group_sizes.texts_in_group,
        round(100.0 * theme_stats.mentions / group_sizes.texts_in_group, 1) as mention_share_pct,
        {{ round_number('theme_stats.average_sentiment', 3) }} as average_sentiment,
        round(100.0 * theme_stats.negative_mentions / theme_stats.mentions, 1) as negative_share_pct,
        round(100.0 * theme_stats.positive_mentions / theme_stats.mentions, 1) as positive_share_pct,
        examples.example_comments

    from theme_stats
    inner join group_sizes
        on theme_stats.feedback_month = group_sizes.feedback_month
        and theme_stats.source = group_sizes.source
        and theme_stats.touchpoint = group_sizes.touchpoint
        and theme_stats.survey_type is not distinct from group_sizes.survey_type
        and theme_stats.score_category is not distinct from group_sizes.score_category
    left join examples
        on theme_stats.feedback_month = examples.feedback_month
        and theme_stats.source = examples.source
        and theme_stats.touchpoint = examples.touchpoint
        and theme_stats.survey_type is not distinct from examples.survey_type
        and theme_stats.score_category is not distinct from examples.score_category
        and theme_stats.theme = examples.theme

)

select * from final
