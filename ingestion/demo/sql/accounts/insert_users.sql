-- Sign-ups in (t0, t1]: no legacy system; 1 percent are test accounts.
with

arrivals as (
    select
        id,
        arrived_at
    from pg_temp.arrivals(:seed, 1, :t0, :t1)
),

inserted as (
    insert into users (
        id,
        email,
        display_name,
        legacy_system,
        is_internal,
        created_at,
        updated_at
    )
    select
        id,
        pg_temp.user_email(
            :seed,
            id,
            case
                when pg_temp.rnd(:seed, 151, id) < 0.01 then 'test'
                else 'customer'
            end
        ),
        pg_temp.display_name(:seed, id, false),
        null,
        false,
        arrived_at,
        arrived_at
    from arrivals
)

select setval(pg_get_serial_sequence('users', 'id'), max(id))
from arrivals
having count(*) > 0;
