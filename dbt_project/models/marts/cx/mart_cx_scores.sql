-- NPS, CSAT and CES by month, touchpoint, channel and customer segment, with the totals across
-- every combination of those dimensions ('all' / a null month), each with its response count,
-- invitation count, response rate and, for NPS, a 95% margin of error. Responses count in the
-- month they were given; invitations (and whether they were answered) in the month they were sent.
-- Anonymous responses count in the scores under the segment 'anonymous'.

with

responses as (

    select * from {{ ref('fct_survey_responses') }}

),

invitations as (

    select * from {{ ref('stg_surveys__invitations') }}

),

customers as (

    select customer_id, plan from {{ ref('stg_crm__customers') }}

),

response_facts as (

    select
        responses.survey_type,
        responses.response_month as month_start,
        responses.touchpoint,
        responses.channel,
        case
            when responses.is_anonymous then 'anonymous'
            else coalesce(customers.plan, 'unknown')
        end as customer_segment,
        1 as is_response,
        responses.score,
        responses.experience_outcome,
        0 as is_invitation,
        0 as is_answered_invitation

    from responses
    left join customers
        on responses.customer_id = customers.customer_id

),

invitation_facts as (

    select
        invitations.survey_type,
        date_trunc('month', invitations.sent_at)::date as month_start,
        invitations.touchpoint,
        invitations.channel,
        coalesce(customers.plan, 'unknown') as customer_segment,
        0 as is_response,
        null::integer as score,
        null as experience_outcome,
        1 as is_invitation,
        (
            exists (
                select 1 from responses
                where responses.invitation_id = invitations.invitation_id
            )
        )::integer as is_answered_invitation

    from invitations
    left join customers
        on invitations.customer_id = customers.customer_id

),

facts as (

    select * from response_facts
    union all
    select * from invitation_facts

),

aggregated as (

    select
        survey_type,
        month_start,
        coalesce(touchpoint, 'all') as touchpoint,
        coalesce(channel, 'all') as channel,
        coalesce(customer_segment, 'all') as customer_segment,
        grouping(month_start, touchpoint, channel, customer_segment) as grouping_id,
        sum(is_response)::bigint as responses,
        sum(is_invitation)::bigint as invitations,
        sum(is_answered_invitation)::bigint as answered_invitations,
        count(*) filter (where is_response = 1 and experience_outcome = 'positive') as positive_responses,
        count(*) filter (where is_response = 1 and experience_outcome = 'neutral') as neutral_responses,
        count(*) filter (where is_response = 1 and experience_outcome = 'negative') as negative_responses,
        avg(score) filter (where is_response = 1) as average_score

    from facts
    group by survey_type, cube(month_start, touchpoint, channel, customer_segment)

),

final as (

    select
        survey_type,
        month_start,
        touchpoint,
        channel,
        customer_segment,
        -- which dimensions are totals ("month", "touchpoint", ...); empty for the finest rows
        concat_ws(
            ',',
            case when grouping_id & 8 = 8 then 'month' end,
            case when grouping_id & 4 = 4 then 'touchpoint' end,
            case when grouping_id & 2 = 2 then 'channel' end,
            case when grouping_id & 1 = 1 then 'customer_segment' end
        ) as totals_over,
        responses,
        invitations,
        answered_invitations,
        round(100.0 * answered_invitations / nullif(invitations, 0), 1) as response_rate_pct,
        positive_responses,
        neutral_responses,
        negative_responses,
        {{ round_number('average_score', 2) }} as average_score,
        case
            when survey_type = 'NPS'
                then {{ nps('positive_responses', 'negative_responses', 'responses') }}
            when survey_type = 'CSAT'
                then {{ csat('positive_responses', 'responses') }}
            when survey_type = 'CES'
                then {{ ces('positive_responses', 'responses') }}
        end as score,
        case
            when survey_type = 'NPS'
                then {{ nps_margin_of_error('positive_responses', 'negative_responses', 'responses') }}
        end as nps_margin_of_error

    from aggregated

)

select * from final
