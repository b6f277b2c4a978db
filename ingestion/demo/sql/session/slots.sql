-- One row per arrival stream and hour slot since the simulation start: how many
-- entities arrive in the slot (n) and how many ids were given out before it
-- (before), so that arrival k of a slot gets the id before + k. Streams:
-- 1 sign-ups, 2 submissions, 3 vault items, 4 collection items. users_before,
-- submissions_before and vault_items_before are the ids that exist at the
-- slot's start.
create temp table slots as
with

hours as (
    select
        slot,
        cast(:sim_start as timestamptz) + slot * interval '1 hour'
            as slot_start,
        -- UTC hour of day at the middle of the slot (modulo 24)
        cast(:sim_start_hour as double precision) + middles.slot_middle
            as hour_of_day,
        middles.slot_middle - cast(:prelaunch_hours as double precision)
            as hours_since_go_live
    from generate_series(0, cast(:last_slot as integer)) as slot
    cross join lateral (
        select cast(slot as double precision) + 0.5 as slot_middle
    ) as middles
),

intensities as materialized (
    -- materialized: each slot's factors are computed once, not once per stream
    select
        slot,
        slot_start,
        hours_since_go_live < 0 as is_before_go_live,
        -- US daytime: peaks at 19 UTC, lowest at 7 UTC, 1 on average
        1 + 0.8 * cos(2 * pi() * (hour_of_day - 19) / 24) as diurnal,
        -- capped: exp() raises an underflow error far below double precision
        1 + 6 * exp(-least(greatest(hours_since_go_live, 0), 1000) / 10)
            as launch
    from hours
),

rates as (
    -- Expected arrivals per hour. Launch-day volumes are shares of the initial
    -- users spread by the launch factor, whose integral over the first 24
    -- hours is 24 + 60 (1 - e^-2.4). Before go-live only submissions arrive,
    -- 0.3 per initial user over the 120 days.
    select
        intensities.slot,
        intensities.slot_start,
        streams.stream,
        intensities.diurnal * case
            when intensities.is_before_go_live then streams.before_go_live
            else
                streams.launch_day_share
                * cast(:scale as double precision)
                * intensities.launch
                / (24 + 60 * (1 - exp(-2.4)))
        end as rate
    from intensities
    cross join (
        values
            (1, 0.02, 0),
            (
                2,
                0.05,
                0.3 * :scale / cast(:prelaunch_hours as double precision)
            ),
            (3, 0.03, 0),
            (4, 0.1, 0)
    ) as streams (stream, launch_day_share, before_go_live)
),

counts as (
    -- stochastic rounding keeps the expected count equal to the rate
    select
        stream,
        slot,
        slot_start,
        cast(floor(rate + pg_temp.rnd(:seed, stream, slot)) as integer) as n
    from rates
),

cumulated as (
    select
        stream,
        slot,
        slot_start,
        n,
        sum(n) over (partition by stream order by slot) - n
        -- sign-ups get the ids after the users that exist at go-live
        + case when stream = 1 then cast(:scale as bigint) else 0 end
            as before
    from counts
)

select
    cumulated.stream,
    cumulated.slot,
    cumulated.slot_start,
    cumulated.n,
    cast(cumulated.before as bigint) as before,
    cast(signups.before as bigint) as users_before,
    cast(submissions.before as bigint) as submissions_before,
    cast(vault_items.before as bigint) as vault_items_before
from cumulated
inner join cumulated as signups
    on signups.stream = 1 and cumulated.slot = signups.slot
inner join cumulated as submissions
    on submissions.stream = 2 and cumulated.slot = submissions.slot
inner join cumulated as vault_items
    on vault_items.stream = 3 and cumulated.slot = vault_items.slot;
