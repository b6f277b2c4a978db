-- Vault requests made in (t0, t1]; a request cancelled by t1 is never
-- inserted.
with

arrivals as (
    select
        id,
        arrived_at
    from pg_temp.arrivals(:seed, 3, :t0, :t1)
),

kept as (
    select
        id,
        arrived_at
    from arrivals
    where
        coalesce(pg_temp.vault_cancelled_at(:seed, id, arrived_at) > :t1, true)
),

inserted as (
    insert into vault_items (
        id,
        user_id,
        submission_id,
        status,
        card,
        declared_value_usd,
        created_at,
        updated_at
    )
    select
        kept.id,
        owners.user_id,
        owners.submission_id,
        'requested',
        pg_temp.vault_card(:seed, kept.id, kept.arrived_at, :go_live),
        round(
            cast(exp(2 + 6 * pg_temp.rnd(:seed, 361, kept.id)) as numeric), 2
        ),
        kept.arrived_at,
        kept.arrived_at
    from kept
    cross join lateral pg_temp.vault_owner(:seed, kept.id) as owners
)

select setval(pg_get_serial_sequence('vault_items', 'id'), max(id))
from arrivals
having count(*) > 0;
