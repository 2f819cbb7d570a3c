-- One row per day: the time spine MetricFlow joins metrics to (docs/metrics.md, "Querying
-- metrics"). A fixed range wide enough for any extract the warehouse accepts, so that it does not
-- depend on the data and never needs an incremental rebuild.

with

days as (

    {{ dbt.date_spine('day', "cast('2000-01-01' as date)", "cast('2041-01-01' as date)") }}

),

final as (

    select cast(date_day as date) as date_day
    from days

)

select * from final
