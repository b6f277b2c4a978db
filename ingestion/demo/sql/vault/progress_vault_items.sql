-- Moves every open vault item to its status at t1: in transit 2-24 h after the
-- request, received 12-72 h later, stored 1-12 h later, and 5 percent
-- withdrawn 24-200 h after that. Cancelled requests stay 'requested' until
-- they are deleted.
with

open_items as (
    select
        id,
        created_at
    from vault_items
    where
        (
            status in ('requested', 'in_transit', 'received')
            or (
                status = 'stored'
                and pg_temp.is_vault_item_withdrawn(:seed, id)
            )
        )
        and not pg_temp.is_vault_item_cancelled(:seed, id)
),

draws as (
    select
        id,
        created_at,
        pg_temp.uniform_hours(:seed, 362, id, 2, 24) as transit_hours,
        pg_temp.uniform_hours(:seed, 363, id, 12, 72) as receive_hours,
        pg_temp.uniform_hours(:seed, 364, id, 1, 12) as store_hours,
        case
            when pg_temp.is_vault_item_withdrawn(:seed, id)
                then pg_temp.uniform_hours(:seed, 366, id, 24, 200)
        end as withdraw_hours
    from open_items
),

transitions as (
    select
        draws.id,
        steps.step,
        steps.status,
        pg_temp.after_hours(draws.created_at, steps.hours) as changed_at
    from draws
    cross join lateral (
        values
            (0, 'requested', cast(0 as double precision)),
            (1, 'in_transit', draws.transit_hours),
            (2, 'received', draws.transit_hours + draws.receive_hours),
            (
                3,
                'stored',
                draws.transit_hours + draws.receive_hours + draws.store_hours
            ),
            (
                4,
                'withdrawn',
                draws.transit_hours + draws.receive_hours + draws.store_hours
                + draws.withdraw_hours
            )
    ) as steps (step, status, hours)
    where pg_temp.after_hours(draws.created_at, steps.hours) <= :t1
),

states as (
    select distinct on (id)
        id,
        status,
        changed_at
    from transitions
    order by id, step desc
)

update vault_items
set
    status = states.status,
    updated_at = states.changed_at
from states
where
    vault_items.id = states.id
    and vault_items.status is distinct from states.status;
