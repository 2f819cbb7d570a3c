-- One row per support ticket: who it belongs to, whether the company opened it, how fast it was
-- answered and resolved (calendar and business minutes), how many touches and handoffs it took,
-- its SLA outcome, and whether it was a good or a bad experience. Open or solved is judged at the
-- warehouse's as-of moment.
--
-- Incremental (docs/incremental.md): each night the tickets with something new are rebuilt: a new
-- or re-sent ticket, a new ticket event, a CRM customer that landed since and the ticket is linked
-- to (by id, email or as built before), and every ticket open at the last build (its age and open
-- SLA clock moved with the as-of day). A ticket closed before the as-of moment does not change
-- with it.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='ticket_id',
        on_schema_change='fail',
    )
}}

with

tickets as (

    select * from {{ ref('stg_support__tickets') }}

),

ticket_events as (

    select * from {{ ref('stg_support__ticket_events') }}

),

customers as (

    select customer_id, plan, email, _loaded_at from {{ ref('stg_crm__customers') }}

),

emails as (

    select * from {{ ref('int_emails_resolved') }}

),

open_periods as (

    select * from {{ ref('int_ticket_open_periods_derived') }}

),

business_windows as (

    select * from {{ ref('int_business_windows_derived') }}

),

sla_targets as (

    select * from {{ ref('support_sla_targets') }}

),

as_of as (

    select * from {{ ref('int_as_of_dates_derived') }}

),

{% if is_incremental() -%}
{%- set since = high_water_mark() -%}

new_customers as (

    select customer_id, email from customers
    where _loaded_at > {{ since }}

),

changed_tickets as (

    select ticket_id from tickets
    where _loaded_at > {{ since }}
        or customer_id in (select customer_id from new_customers)
        or requester_email in (select email from new_customers)

    union

    select ticket_id from ticket_events
    where _loaded_at > {{ since }}

    union

    select ticket_id from {{ this }}
    where is_open
        or customer_id in (select customer_id from new_customers)

),

{% endif -%}

{%- set changed_only -%}
    {% if is_incremental() %}where ticket_id in (select ticket_id from changed_tickets){% endif %}
{%- endset %}

event_summary as (

    select
        ticket_id,
        min(occurred_at) filter (
            where event_type = 'agent_reply' and is_public
        ) as first_reply_at,
        min(occurred_at) filter (where event_type = 'solved') as first_solved_at,
        max(occurred_at) filter (where event_type = 'solved') as last_solved_at,
        max(occurred_at) filter (where event_type = 'closed') as closed_at,
        count(*) filter (where event_type = 'reopened') as reopen_count,
        count(*) filter (where event_type = 'agent_reply' and is_public) as agent_reply_count,
        count(*) filter (where event_type = 'customer_reply') as customer_reply_count,
        {{ arg_max('csat_score', 'occurred_at', where="event_type = 'csat_rated' and csat_score is not null") }}
            as csat_score,
        -- the company opened it (e.g. a close-the-loop call), not the customer
        coalesce(bool_or(event_type = 'created' and author_type = 'agent'), false) as is_outbound,
        max(_loaded_at) as events_loaded_at

    from ticket_events
    {{ changed_only }}
    group by ticket_id

),

resolution_touches as (

    -- public agent replies up to the final solve (a reply sent with the solve counts)
    select
        event_summary.ticket_id,
        count(ticket_events.ticket_event_id) as touches

    from event_summary
    left join ticket_events
        on event_summary.ticket_id = ticket_events.ticket_id
        and ticket_events.event_type = 'agent_reply'
        and ticket_events.is_public
        and ticket_events.occurred_at <= event_summary.last_solved_at
    group by event_summary.ticket_id

),

assignments as (

    select
        ticket_id,
        agent_id,
        lag(agent_id) over (
            partition by ticket_id order by occurred_at, ticket_event_id
        ) as previous_agent_id

    from ticket_events
    where event_type = 'assigned'
        and agent_id is not null
        {% if is_incremental() %}and ticket_id in (select ticket_id from changed_tickets){% endif %}

),

handoffs as (

    -- the first assignment is not a handoff; a change of agent is
    select
        ticket_id,
        count(*) filter (where agent_id != previous_agent_id) as agent_handoffs

    from assignments
    group by ticket_id

),

current_state as (

    select
        open_periods.ticket_id,
        bool_or(
            open_periods.opened_at < as_of.as_of_at
            and (open_periods.ended_at is null or open_periods.ended_at >= as_of.as_of_at)
        ) as is_open

    from open_periods
    cross join as_of
    {{ changed_only }}
    group by open_periods.ticket_id

),

attributed as (

    select
        tickets.ticket_id,
        -- the help desk's own link wins; otherwise the requester's email, resolved
        coalesce(linked.customer_id, emails.customer_id) as customer_id,
        case
            when linked.customer_id is not null then 'crm_id'
            when emails.customer_id is not null then 'email'
            else 'unmatched'
        end as customer_match_rule,
        tickets.agent_id,
        tickets.channel,
        tickets.priority,
        {{ mask_personal_data('tickets.subject') }} as subject,
        tickets.status,
        tickets.created_at,
        tickets.updated_at,
        tickets._loaded_at as ticket_loaded_at

    from tickets
    left join customers as linked
        on tickets.customer_id = linked.customer_id
    left join emails
        on tickets.requester_email = emails.email
    {% if is_incremental() -%}
    where tickets.ticket_id in (select ticket_id from changed_tickets)
    {%- endif %}

),

measured as (

    select
        attributed.*,
        event_summary.first_reply_at,
        event_summary.first_solved_at,
        event_summary.last_solved_at,
        event_summary.closed_at,
        coalesce(event_summary.reopen_count, 0) as reopen_count,
        coalesce(event_summary.agent_reply_count, 0) as agent_reply_count,
        coalesce(event_summary.customer_reply_count, 0) as customer_reply_count,
        event_summary.csat_score,
        {{ dbt.datediff('attributed.created_at', 'event_summary.first_reply_at', 'minute') }} as first_reply_minutes,
        {{ dbt.datediff('attributed.created_at', 'event_summary.last_solved_at', 'minute') }} as full_resolution_minutes,
        coalesce(event_summary.is_outbound, false) as is_outbound,
        case
            when attributed.customer_id is null then 'non_customer'
            else coalesce(segments.plan, 'unknown')
        end as customer_segment,
        coalesce(handoffs.agent_handoffs, 0) as agent_handoffs,
        coalesce(current_state.is_open, false) as is_open,
        -- resolved: solved and not reopened since, at the as-of moment
        case
            when not coalesce(current_state.is_open, false) then event_summary.last_solved_at
        end as resolved_at,
        resolution_touches.touches,
        {{ dbt.datediff('attributed.created_at', 'event_summary.first_solved_at', 'minute') }} as first_resolution_minutes,
        {{ dbt.datediff('attributed.created_at', 'as_of.as_of_at', 'minute') }} as age_minutes,
        -- what the row depends on besides the as-of moment: the ticket, its events and its
        -- customer (greatest ignores nulls)
        greatest(attributed.ticket_loaded_at, event_summary.events_loaded_at, segments._loaded_at)
            as last_loaded_at

    from attributed
    cross join as_of
    left join event_summary
        on attributed.ticket_id = event_summary.ticket_id
    left join customers as segments
        on attributed.customer_id = segments.customer_id
    left join handoffs
        on attributed.ticket_id = handoffs.ticket_id
    left join current_state
        on attributed.ticket_id = current_state.ticket_id
    left join resolution_touches
        on attributed.ticket_id = resolution_touches.ticket_id

),

ticket_moments as (

    select
        measured.ticket_id,
        measured.created_at,
        measured.first_reply_at,
        measured.first_solved_at,
        measured.last_solved_at,
        as_of.as_of_at

    from measured
    cross join as_of

),

clock_points as (

    -- one row per ticket and moment (nulls dropped), each placed on the business clock next
    {{ unpivot_not_null(
        'ticket_moments',
        ['ticket_id'],
        ['created_at', 'first_reply_at', 'first_solved_at', 'last_solved_at', 'as_of_at'],
        'point_name',
        'point_at'
    ) }}

),

clocked as (

    {{ business_clock('clock_points', 'point_at', 'business_windows') }}

),

business_times as (

    select
        ticket_id,
        max(business_clock_minutes) filter (where point_name = 'first_reply_at')
            - max(business_clock_minutes) filter (where point_name = 'created_at')
            as first_reply_business_minutes,
        max(business_clock_minutes) filter (where point_name = 'first_solved_at')
            - max(business_clock_minutes) filter (where point_name = 'created_at')
            as first_resolution_business_minutes,
        max(business_clock_minutes) filter (where point_name = 'last_solved_at')
            - max(business_clock_minutes) filter (where point_name = 'created_at')
            as full_resolution_business_minutes,
        max(business_clock_minutes) filter (where point_name = 'as_of_at')
            - max(business_clock_minutes) filter (where point_name = 'created_at')
            as age_business_minutes

    from clocked
    group by ticket_id

),

sla_measured as (

    select
        measured.*,
        business_times.first_reply_business_minutes,
        business_times.first_resolution_business_minutes,
        business_times.full_resolution_business_minutes,
        -- an SLA applies to customer requests, not to tickets the company opened
        case when not measured.is_outbound then sla_targets.sla_hours_type end as sla_hours_type,
        case when not measured.is_outbound then sla_targets.first_reply_target_minutes end
            as first_reply_target_minutes,
        case when not measured.is_outbound then sla_targets.resolution_target_minutes end
            as resolution_target_minutes,
        case
            when sla_targets.sla_hours_type = 'business' then business_times.first_reply_business_minutes
            else measured.first_reply_minutes
        end as first_reply_sla_minutes,
        case
            when measured.resolved_at is null then null
            when sla_targets.sla_hours_type = 'business' then business_times.full_resolution_business_minutes
            else measured.full_resolution_minutes
        end as resolution_sla_minutes,
        -- minutes waited so far, only while the ticket is open
        case
            when not measured.is_open then null
            when sla_targets.sla_hours_type = 'business' then business_times.age_business_minutes
            else measured.age_minutes
        end as open_sla_minutes

    from measured
    left join business_times
        on measured.ticket_id = business_times.ticket_id
    left join sla_targets
        on measured.priority = sla_targets.priority

),

final as (

    select
        ticket_id,
        customer_id,
        customer_match_rule,
        agent_id,
        channel,
        priority,
        subject,
        status,
        created_at,
        updated_at,
        first_reply_at,
        first_solved_at,
        last_solved_at,
        closed_at,
        reopen_count,
        agent_reply_count,
        customer_reply_count,
        csat_score,
        first_reply_minutes,
        full_resolution_minutes,
        customer_id is not null as is_customer,
        reopen_count > 0 as is_reopened,
        first_solved_at is not null as is_solved,
        first_reply_minutes > {{ var('slow_first_reply_hours') }} * 60 as is_slow_first_reply,
        -- negative first: one poor experience outweighs the rest
        case
            when reopen_count > 0
                or first_reply_minutes > {{ var('slow_first_reply_hours') }} * 60
                or csat_score <= 2
                then 'negative'
            when csat_score >= 4
                or (first_solved_at is not null and first_reply_minutes <= 60)
                then 'positive'
            else 'neutral'
        end as experience_outcome,
        is_outbound,
        customer_segment,
        is_open,
        resolved_at,
        first_resolution_minutes,
        first_reply_business_minutes,
        first_resolution_business_minutes,
        full_resolution_business_minutes,
        case when resolved_at is not null then touches end as resolution_touches,
        case
            when resolved_at is null then null
            when touches = 0 then 'zero_touch'
            when touches = 1 then 'one_touch'
            when touches = 2 then 'two_touch'
            else 'multi_touch'
        end as resolution_touch_type,
        case when resolved_at is not null then touches = 1 and reopen_count = 0 end
            as is_first_contact_resolution,
        agent_handoffs,
        sla_hours_type,
        first_reply_target_minutes,
        resolution_target_minutes,
        {{ sla_breached(
            'first_reply_sla_minutes',
            'case when first_reply_at is null then open_sla_minutes end',
            'first_reply_target_minutes'
        ) }} as is_first_reply_sla_breached,
        {{ sla_breached('resolution_sla_minutes', 'open_sla_minutes', 'resolution_target_minutes') }}
            as is_resolution_sla_breached,
        last_loaded_at as _loaded_at

    from sla_measured

)

select * from final
