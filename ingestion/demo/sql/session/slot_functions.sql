-- Helpers over pg_temp.slots, which is created just before them.
create unique index on pg_temp.slots (stream, slot);
create index on pg_temp.slots (stream, before, slot);
analyze pg_temp.slots;

-- The arrivals of one stream in (window_start, window_end]. An id is the global
-- arrival index; inside a slot, ids increase with the arrival time.
create function pg_temp.arrivals(
    seed bigint,
    arrival_stream integer,
    window_start timestamptz,
    window_end timestamptz
)
returns table (
    id bigint,
    arrived_at timestamptz,
    users_before bigint,
    submissions_before bigint,
    vault_items_before bigint
)
language sql stable
as $$
    with

    drawn as (
        select
            slots.slot,
            slots.slot_start,
            slots.before,
            slots.users_before,
            slots.submissions_before,
            slots.vault_items_before,
            k,
            pg_temp.rnd(seed, 900 + arrival_stream, slots.before + k) as u
        from pg_temp.slots
        cross join lateral generate_series(1, slots.n) as k
        where
            slots.stream = arrival_stream
            and slots.slot_start + interval '1 hour' > window_start
            and slots.slot_start <= window_end
    ),

    numbered as (
        select
            before + row_number() over (partition by slot order by u, k) as id,
            slot_start + u * interval '1 hour' as arrived_at,
            users_before,
            submissions_before,
            vault_items_before
        from drawn
    )

    select * from numbered
    where arrived_at > window_start and arrived_at <= window_end
$$;

-- The slot in which the arrival `item_id` of a stream arrived.
create function pg_temp.slot_of(arrival_stream integer, item_id bigint)
returns table (users_before bigint, submissions_before bigint)
language sql stable
as $$
    select
        slots.users_before,
        slots.submissions_before
    from pg_temp.slots
    where slots.stream = arrival_stream and slots.before < item_id
    order by slots.before desc, slots.slot desc
    limit 1
$$;

-- Who owns a vault item, and the submission it came from: 30 percent come from
-- a submission made before the request, and then belong to the submission's
-- user (unless that user id matches no user; then the link is dropped).
create function pg_temp.vault_owner(seed bigint, vault_item_id bigint)
returns table (submission_id bigint, user_id bigint)
language sql stable
as $$
    select
        case when picked.is_linked then picked.submission_id end,
        case
            when picked.is_linked
                then pg_temp.submission_user(
                    seed, picked.submission_id, submission_slot.users_before
                )
            else 1 + cast(
                floor(
                    pg_temp.rnd(seed, 313, vault_item_id)
                    * vault_slot.users_before
                )
                as bigint
            )
        end
    from pg_temp.slot_of(3, vault_item_id) as vault_slot
    cross join lateral (
        select
            candidate.submission_id,
            candidate.submission_id is not null
            and not pg_temp.has_unknown_user(seed, candidate.submission_id)
                as is_linked
        from (
            select case
                when
                    pg_temp.rnd(seed, 311, vault_item_id) < 0.3
                    and vault_slot.submissions_before > 0
                    then 1 + cast(
                        floor(
                            pg_temp.rnd(seed, 312, vault_item_id)
                            * vault_slot.submissions_before
                        )
                        as bigint
                    )
            end as submission_id
        ) as candidate
    ) as picked
    left join lateral pg_temp.slot_of(2, picked.submission_id)
        as submission_slot
        on true
$$;
