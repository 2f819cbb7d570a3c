-- Help-desk performance by day and by month, channel, priority and customer segment, with the
-- totals across every combination of the three dimensions ('all'). Customer requests only:
-- tickets the company opened (is_outbound) are left out. Each ticket counts in the period of what
-- happened: created in the period it was created, first reply in the period of the first reply,
-- solved (and its resolution time, SLA outcome, reopens, touches) in the period of its final
-- solve, counted once it stays solved at the as-of moment. The backlog is a snapshot: tickets open
-- at the end of the period (or at the as-of moment for the current one).

with

tickets as (

    select * from {{ ref('fct_support_tickets') }}
    where not is_outbound

),

open_periods as (

    select * from {{ ref('int_ticket_open_periods_derived') }}

),

as_of as (

    select * from {{ ref('int_as_of_dates_derived') }}

),

period_types as (

    select * from (values ('day'), ('month')) as period_types (period_type)  -- noqa: AL05

),

first_days as (

    select min(created_at)::date as first_day from tickets

),

days as (

    select spine.day_at::date as day_start

    from first_days
    cross join as_of
    cross join generate_series(
        first_days.first_day::timestamp,
        as_of.as_of_date::timestamp,
        interval '1 day'
    ) as spine (day_at)

),

periods as (

    -- each period and the day whose end closes it (the as-of day for the current month)
    select
        'day' as period_type,
        day_start as period_start,
        day_start as backlog_day

    from days

    union all

    select distinct
        'month' as period_type,
        date_trunc('month', days.day_start)::date as period_start,
        least({{ dbt.last_day('days.day_start', 'month') }}, as_of.as_of_date) as backlog_day

    from days
    cross join as_of

),

cells as (

    -- every combination of the dimensions seen, with 'all' for a total
    select
        {{ all_when_rolled_up('channel') }} as channel,
        {{ all_when_rolled_up('priority') }} as priority,
        {{ all_when_rolled_up('customer_segment') }} as customer_segment,
        grouping(channel, priority, customer_segment) as grouping_id

    from tickets
    group by cube(channel, priority, customer_segment)

),

created as (

    select
        period_types.period_type,
        date_trunc(period_types.period_type, tickets.created_at)::date as period_start,
        {{ all_when_rolled_up('channel') }} as channel,
        {{ all_when_rolled_up('priority') }} as priority,
        {{ all_when_rolled_up('customer_segment') }} as customer_segment,
        count(*) as tickets_created

    from tickets
    cross join period_types
    group by period_types.period_type, period_start, cube(channel, priority, customer_segment)

),

first_replied as (

    select
        period_types.period_type,
        date_trunc(period_types.period_type, tickets.first_reply_at)::date as period_start,
        {{ all_when_rolled_up('channel') }} as channel,
        {{ all_when_rolled_up('priority') }} as priority,
        {{ all_when_rolled_up('customer_segment') }} as customer_segment,
        count(*) as first_replies,
        sum(tickets.first_reply_minutes) as total_first_reply_minutes,
        {{ median('tickets.first_reply_minutes') }} as median_first_reply_minutes,
        sum(tickets.first_reply_business_minutes) as total_first_reply_business_minutes,
        {{ median('tickets.first_reply_business_minutes') }} as median_first_reply_business_minutes,
        count(*) filter (
            where tickets.first_reply_minutes <= {{ var('immediate_reply_minutes') }}
        ) as immediate_first_replies,
        count(*) filter (where not tickets.is_first_reply_sla_breached) as first_reply_sla_achieved,
        count(*) filter (where tickets.is_first_reply_sla_breached) as first_reply_sla_breached

    from tickets
    cross join period_types
    where tickets.first_reply_at is not null
    group by period_types.period_type, period_start, cube(channel, priority, customer_segment)

),

solved as (

    select
        period_types.period_type,
        date_trunc(period_types.period_type, tickets.resolved_at)::date as period_start,
        {{ all_when_rolled_up('channel') }} as channel,
        {{ all_when_rolled_up('priority') }} as priority,
        {{ all_when_rolled_up('customer_segment') }} as customer_segment,
        count(*) as tickets_solved,
        sum(tickets.full_resolution_minutes) as total_full_resolution_minutes,
        {{ median('tickets.full_resolution_minutes') }} as median_full_resolution_minutes,
        sum(tickets.full_resolution_business_minutes) as total_full_resolution_business_minutes,
        {{ median('tickets.full_resolution_business_minutes') }} as median_full_resolution_business_minutes,
        count(*) filter (where not tickets.is_resolution_sla_breached) as resolution_sla_achieved,
        count(*) filter (where tickets.is_resolution_sla_breached) as resolution_sla_breached,
        count(*) filter (where tickets.is_reopened) as reopened_tickets,
        count(*) filter (where tickets.resolution_touch_type = 'zero_touch') as zero_touch_resolutions,
        count(*) filter (where tickets.resolution_touch_type = 'one_touch') as one_touch_resolutions,
        count(*) filter (where tickets.resolution_touch_type = 'two_touch') as two_touch_resolutions,
        count(*) filter (where tickets.resolution_touch_type = 'multi_touch') as multi_touch_resolutions,
        count(*) filter (where tickets.is_first_contact_resolution) as first_contact_resolutions

    from tickets
    cross join period_types
    where tickets.resolved_at is not null
    group by period_types.period_type, period_start, cube(channel, priority, customer_segment)

),

open_period_changes as (

    -- a ticket is open at the end of a day when one of its open periods started by then and had
    -- not ended: +1 on the day a period starts, -1 on the day it ends
    select ticket_id, opened_at::date as change_day, 1 as change
    from open_periods

    union all

    select ticket_id, ended_at::date as change_day, -1 as change
    from open_periods
    where ended_at is not null

),

backlog_changes as (

    select
        open_period_changes.change_day,
        {{ all_when_rolled_up('tickets.channel') }} as channel,
        {{ all_when_rolled_up('tickets.priority') }} as priority,
        {{ all_when_rolled_up('tickets.customer_segment') }} as customer_segment,
        sum(open_period_changes.change) as net_change

    from open_period_changes
    inner join tickets
        on open_period_changes.ticket_id = tickets.ticket_id
    group by open_period_changes.change_day, cube(tickets.channel, tickets.priority, tickets.customer_segment)

),

daily_backlog as (

    select
        days.day_start,
        cells.channel,
        cells.priority,
        cells.customer_segment,
        sum(coalesce(backlog_changes.net_change, 0)) over (
            partition by cells.channel, cells.priority, cells.customer_segment
            order by days.day_start
            rows between unbounded preceding and current row
        ) as open_tickets_at_end

    from days
    cross join cells
    left join backlog_changes
        on days.day_start = backlog_changes.change_day
        and cells.channel = backlog_changes.channel
        and cells.priority = backlog_changes.priority
        and cells.customer_segment = backlog_changes.customer_segment

),

final as (

    select
        periods.period_type,
        periods.period_start,
        cells.channel,
        cells.priority,
        cells.customer_segment,
        -- which dimensions are totals ("channel", ...); empty for the finest rows
        concat_ws(
            ',',
            case when cells.grouping_id & 4 = 4 then 'channel' end,
            case when cells.grouping_id & 2 = 2 then 'priority' end,
            case when cells.grouping_id & 1 = 1 then 'customer_segment' end
        ) as totals_over,
        coalesce(created.tickets_created, 0) as tickets_created,

        coalesce(first_replied.first_replies, 0) as first_replies,
        coalesce(first_replied.total_first_reply_minutes, 0) as total_first_reply_minutes,
        {{ average_minutes('first_replied.total_first_reply_minutes', 'first_replied.first_replies') }}
            as average_first_reply_minutes,
        {{ round_number('first_replied.median_first_reply_minutes', 1) }} as median_first_reply_minutes,
        coalesce(first_replied.total_first_reply_business_minutes, 0) as total_first_reply_business_minutes,
        {{ average_minutes('first_replied.total_first_reply_business_minutes', 'first_replied.first_replies') }}
            as average_first_reply_business_minutes,
        {{ round_number('first_replied.median_first_reply_business_minutes', 1) }} as median_first_reply_business_minutes,
        coalesce(first_replied.immediate_first_replies, 0) as immediate_first_replies,
        {{ share_pct('first_replied.immediate_first_replies', 'first_replied.first_replies') }}
            as immediate_first_reply_pct,
        coalesce(first_replied.first_reply_sla_achieved, 0) as first_reply_sla_achieved,
        coalesce(first_replied.first_reply_sla_breached, 0) as first_reply_sla_breached,
        {{ share_pct(
            'first_replied.first_reply_sla_achieved',
            'first_replied.first_reply_sla_achieved + first_replied.first_reply_sla_breached'
        ) }} as first_reply_sla_attainment_pct,

        coalesce(solved.tickets_solved, 0) as tickets_solved,
        coalesce(solved.total_full_resolution_minutes, 0) as total_full_resolution_minutes,
        {{ average_minutes('solved.total_full_resolution_minutes', 'solved.tickets_solved') }}
            as average_full_resolution_minutes,
        {{ round_number('solved.median_full_resolution_minutes', 1) }} as median_full_resolution_minutes,
        coalesce(solved.total_full_resolution_business_minutes, 0) as total_full_resolution_business_minutes,
        {{ average_minutes('solved.total_full_resolution_business_minutes', 'solved.tickets_solved') }}
            as average_full_resolution_business_minutes,
        {{ round_number('solved.median_full_resolution_business_minutes', 1) }} as median_full_resolution_business_minutes,
        coalesce(solved.resolution_sla_achieved, 0) as resolution_sla_achieved,
        coalesce(solved.resolution_sla_breached, 0) as resolution_sla_breached,
        {{ share_pct(
            'solved.resolution_sla_achieved',
            'solved.resolution_sla_achieved + solved.resolution_sla_breached'
        ) }} as resolution_sla_attainment_pct,
        coalesce(solved.reopened_tickets, 0) as reopened_tickets,
        {{ share_pct('solved.reopened_tickets', 'solved.tickets_solved') }} as reopen_rate_pct,
        coalesce(solved.zero_touch_resolutions, 0) as zero_touch_resolutions,
        coalesce(solved.one_touch_resolutions, 0) as one_touch_resolutions,
        coalesce(solved.two_touch_resolutions, 0) as two_touch_resolutions,
        coalesce(solved.multi_touch_resolutions, 0) as multi_touch_resolutions,
        coalesce(solved.first_contact_resolutions, 0) as first_contact_resolutions,
        {{ share_pct('solved.first_contact_resolutions', 'solved.tickets_solved') }}
            as first_contact_resolution_pct,

        daily_backlog.open_tickets_at_end

    from periods
    cross join cells
    left join created
        on periods.period_type = created.period_type
        and periods.period_start = created.period_start
        and cells.channel = created.channel
        and cells.priority = created.priority
        and cells.customer_segment = created.customer_segment
    left join first_replied
        on periods.period_type = first_replied.period_type
        and periods.period_start = first_replied.period_start
        and cells.channel = first_replied.channel
        and cells.priority = first_replied.priority
        and cells.customer_segment = first_replied.customer_segment
    left join solved
        on periods.period_type = solved.period_type
        and periods.period_start = solved.period_start
        and cells.channel = solved.channel
        and cells.priority = solved.priority
        and cells.customer_segment = solved.customer_segment
    left join daily_backlog
        on periods.backlog_day = daily_backlog.day_start
        and cells.channel = daily_backlog.channel
        and cells.priority = daily_backlog.priority
        and cells.customer_segment = daily_backlog.customer_segment

)

select * from final
