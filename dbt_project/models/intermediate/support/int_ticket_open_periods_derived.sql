-- One row per stretch of time a ticket was open (not solved or closed): from its creation, or a
-- reopen, to the next solve or close; still open when nothing ended it. A reopened ticket has
-- several. The backlog at any moment is the count of periods spanning it.

with

tickets as (

    select * from {{ ref('stg_support__tickets') }}

),

ticket_events as (

    select * from {{ ref('stg_support__ticket_events') }}

),

state_changes as (

    select
        ticket_id,
        created_at as changed_at,
        0 as change_order,
        true as is_open_after,
        'created' as change_type

    from tickets

    union all

    select
        ticket_id,
        occurred_at as changed_at,
        1 as change_order,
        event_type = 'reopened' as is_open_after,
        event_type as change_type

    from ticket_events
    where event_type in ('reopened', 'solved', 'closed')

),

flagged as (

    -- only changes of state count: a close after a solve, or a second solve, ends nothing new
    select
        *,
        is_open_after is distinct from lag(is_open_after, 1, false) over (  -- noqa: PRS
            partition by ticket_id order by changed_at, change_order, change_type
        ) as is_transition  -- noqa: AL05

    from state_changes  -- noqa: PRS

),

transitions as (

    select
        *,
        lead(changed_at) over by_time as next_changed_at,
        lead(change_type) over by_time as next_change_type

    from flagged
    where is_transition
    window by_time as (partition by ticket_id order by changed_at, change_order, change_type)

),

final as (

    select
        ticket_id,
        row_number() over (partition by ticket_id order by changed_at) as open_period_number,
        changed_at as opened_at,
        change_type as opened_by,
        next_changed_at as ended_at,
        next_change_type as ended_by

    from transitions
    where is_open_after

)

select * from final
