-- Items added to "My Collection" in (t0, t1]: 60 percent typed in by hand, 25
-- percent graded cards, 15 percent cards from the user's vault (a vault item
-- requested before the slot that is never cancelled; otherwise the item counts
-- as manual). An item removed by t1 is never inserted.
with

arrivals as (
    select
        id,
        arrived_at,
        users_before,
        vault_items_before
    from pg_temp.arrivals(:seed, 4, :t0, :t1)
),

drawn as (
    select
        id,
        arrived_at,
        users_before,
        pg_temp.rnd(:seed, 411, id) as u_source,
        case
            when vault_items_before > 0
                then 1 + cast(floor(
                    pg_temp.rnd(:seed, 412, id) * vault_items_before
                ) as bigint)
        end as vault_pick
    from arrivals
    where
        coalesce(
            pg_temp.collection_removed_at(:seed, id, arrived_at) > :t1, true
        )
),

sourced as (
    select
        id,
        arrived_at,
        users_before,
        vault_pick,
        case
            when u_source < 0.60 then 'manual'
            when u_source < 0.85 then 'graded'
            when
                vault_pick is not null
                and not pg_temp.is_vault_item_cancelled(:seed, vault_pick)
                then 'vault'
            else 'manual'
        end as source
    from drawn
),

linked as (
    select
        id,
        arrived_at,
        users_before,
        source,
        case when source = 'vault' then vault_pick end as vault_item_id
    from sourced
),

inserted as (
    insert into collection_items (
        id, user_id, source, vault_item_id, title, added_at
    )
    select
        linked.id,
        coalesce(
            owners.user_id,
            1 + cast(floor(
                pg_temp.rnd(:seed, 413, linked.id) * linked.users_before
            ) as bigint)
        ),
        linked.source,
        linked.vault_item_id,
        case
            when linked.source = 'vault'
                then pg_temp.card_title(:seed, 340, linked.vault_item_id, true)
            else pg_temp.card_title(
                :seed, 440, linked.id, linked.source = 'graded'
            )
        end,
        linked.arrived_at
    from linked
    left join lateral pg_temp.vault_owner(:seed, linked.vault_item_id)
        as owners
        on true
)

select setval(pg_get_serial_sequence('collection_items', 'id'), max(id))
from arrivals
having count(*) > 0;
