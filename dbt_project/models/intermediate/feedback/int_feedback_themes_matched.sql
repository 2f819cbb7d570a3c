-- One row per feedback text and theme it mentions (`seeds/feedback/feedback_themes.csv`); a text
-- that mentions no theme gets one row with the theme 'other'. Matching is case-insensitive on whole
-- words: text and keywords are both reduced to lower-case words separated by single spaces
-- (anything but a letter or digit separates words, as a regex \b would), so a keyword or phrase
-- matches when ' <keyword> ' occurs in ' <text> '; a keyword ending in '*' matches any word that
-- begins with it. Each distinct text is matched once (comments repeat).

with

texts as (

    select * from {{ ref('int_feedback_texts_unioned') }}

),

themes as (

    select * from {{ ref('feedback_themes') }}

),

keywords as (

    select
        theme,
        trim(keyword) like '%*' as is_prefix,
        trim(regexp_replace(lower(keyword), {{ non_word_characters() }}, ' ', 'g')) as words

    from themes

),

distinct_texts as (

    select distinct
        text,
        ' ' || trim(regexp_replace(lower(text), {{ non_word_characters() }}, ' ', 'g')) || ' ' as padded_words

    from texts

),

matched as (

    select distinct
        distinct_texts.text,
        keywords.theme

    from distinct_texts
    inner join keywords
        on {{ dbt.position(
            "' ' || keywords.words || case when keywords.is_prefix then '' else ' ' end",
            'distinct_texts.padded_words'
        ) }} > 0

),

with_other as (

    select * from matched

    union all

    select
        distinct_texts.text,
        'other' as theme

    from distinct_texts
    where not exists (
        select 1 from matched
        where matched.text = distinct_texts.text
    )

),

final as (

    select
        texts.feedback_text_id,
        with_other.theme

    from texts
    inner join with_other
        on texts.text = with_other.text

)

select * from final
