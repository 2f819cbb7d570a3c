-- The help desk's open hours as UTC windows, one row per window, with the business minutes of
-- every earlier window: the business-hours schedule (support_business_hours, in local time) laid
-- over a calendar of local dates that covers all support activity, minus holidays, converted to
-- UTC through each row's IANA time zone (so summer time is followed), and overlapping windows
-- merged. Business minutes between two moments are then a difference of two positions on this
-- clock (macro business_clock): one ASOF join per timestamp instead of a range join over every
-- window a ticket spans.

with

business_hours as (

    select * from {{ ref('support_business_hours') }}

),

holidays as (

    select * from {{ ref('support_holidays') }}

),

tickets as (

    select * from {{ ref('stg_support__tickets') }}

),

ticket_events as (

    select * from {{ ref('stg_support__ticket_events') }}

),

as_of as (

    select * from {{ ref('int_as_of_dates_derived') }}

),

ticket_bounds as (

    select min(created_at) as first_at from tickets

),

event_bounds as (

    select min(occurred_at) as first_at, max(occurred_at) as last_at from ticket_events

),

activity_bounds as (

    -- a day either side, so that every UTC moment's local date is covered in any time zone
    select
        (least(ticket_bounds.first_at, event_bounds.first_at, as_of.as_of_at) - interval '1 day')::date as first_date,
        (greatest(event_bounds.last_at, as_of.as_of_at) + interval '1 day')::date as last_date

    from as_of
    cross join ticket_bounds
    cross join event_bounds

),

local_dates as (

    select spine.local_day::date as local_date

    from activity_bounds
    cross join generate_series(
        activity_bounds.first_date::timestamp,
        activity_bounds.last_date::timestamp,
        interval '1 day'
    ) as spine (local_day)

),

local_windows as (

    select
        local_dates.local_date,
        business_hours.time_zone,
        -- local wall-clock time -> instant in the zone -> UTC wall-clock time
        timezone('UTC', timezone(business_hours.time_zone, local_dates.local_date + business_hours.opens)) as opens_at,
        timezone('UTC', timezone(business_hours.time_zone, local_dates.local_date + business_hours.closes)) as closes_at

    from local_dates
    inner join business_hours
        on {{ day_name('local_dates.local_date') }} = business_hours.weekday
    where not exists (
        select 1 from holidays
        where holidays.holiday_date = local_dates.local_date
    )

),

overlaps_flagged as (

    -- a window that starts before an earlier one has closed continues that one
    select
        *,
        coalesce(
            opens_at > max(closes_at) over (
                order by opens_at, closes_at
                rows between unbounded preceding and 1 preceding
            ),
            true
        ) as starts_new_window

    from local_windows

),

overlaps_numbered as (

    select
        *,
        sum(starts_new_window::integer) over (
            order by opens_at, closes_at
            rows between unbounded preceding and current row
        ) as business_window_number

    from overlaps_flagged

),

merged as (

    select
        business_window_number,
        min(opens_at) as opens_at,
        max(closes_at) as closes_at

    from overlaps_numbered
    group by business_window_number

),

final as (

    select
        business_window_number,
        opens_at,
        closes_at,
        {{ dbt.datediff('opens_at', 'closes_at', 'minute') }} as window_minutes,
        coalesce(
            sum({{ dbt.datediff('opens_at', 'closes_at', 'minute') }}) over (
                order by opens_at
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as business_minutes_before

    from merged

)

select * from final
