{#-
    Business minutes as positions on a clock that only runs in open hours.

    `business_clock(points, point_column, windows)` is a select over the relation `points` (every
    column kept) adding `business_clock_minutes`: the business minutes from the start of the
    calendar `windows` (int_business_windows_derived) up to `point_column` (UTC). The business
    minutes between two moments are the difference of their clock positions. Set-based: one ASOF
    join per point, whatever the distance between the two moments.

    Minutes are counted like `date_diff('minute', a, b)`: the clock-minute marks passed in (a, b],
    here only those inside an open window, so a span inside one window has exactly its calendar
    minutes and business minutes never exceed calendar minutes.

    DuckDB finds each point's window with an ASOF join; elsewhere a lateral join takes the latest
    window opened at or before the point (the windows are few: one a business day).
-#}
{% macro business_clock(points, point_column, windows) -%}
    {{ return(adapter.dispatch('business_clock', 'cx_warehouse')(points, point_column, windows)) }}
{%- endmacro %}

{% macro duckdb__business_clock(points, point_column, windows) -%}
    select
        {{ points }}.*,
        case
            when {{ points }}.{{ point_column }} is not null then coalesce(
                business_window.business_minutes_before
                + date_diff(
                    'minute',
                    business_window.opens_at,
                    least({{ points }}.{{ point_column }}, business_window.closes_at)
                ),
                0  -- before the first window
            )
        end as business_clock_minutes

    from {{ points }}
    -- the last window opened at or before the point: inside it, or in the closed time after it
    asof left join {{ windows }} as business_window
        on {{ points }}.{{ point_column }} >= business_window.opens_at
{%- endmacro %}

{% macro default__business_clock(points, point_column, windows) -%}
    select
        {{ points }}.*,
        case
            when {{ points }}.{{ point_column }} is not null then coalesce(
                business_window.business_minutes_before
                + {{ dbt.datediff(
                    'business_window.opens_at',
                    'least(' ~ points ~ '.' ~ point_column ~ ', business_window.closes_at)',
                    'minute'
                ) }},
                0  -- before the first window
            )
        end as business_clock_minutes

    from {{ points }}
    left join lateral (
        select *
        from {{ windows }}
        where {{ windows }}.opens_at <= {{ points }}.{{ point_column }}
        order by {{ windows }}.opens_at desc
        limit 1
    ) as business_window
        on true
{%- endmacro %}
