-- The users that exist at go-live. 71.5 percent come from the legacy grading
-- system and 27.7 percent from the coins system (2 percent of them with the
-- legacy dummy created_at 1900-01-01); they were loaded at the simulation
-- start. The other 0.8 percent were made on the new platform before launch,
-- and none of them is a customer (legacy_system null means signed up after
-- launch): staff (internal, the company's domain) and QA test accounts (only
-- the @example.test email tells).
with

drawn as (
    select
        user_id,
        pg_temp.rnd(:seed, 101, user_id) as u_system,
        pg_temp.rnd(:seed, 102, user_id) as u_kind,
        pg_temp.rnd(:seed, 103, user_id) as u_dummy,
        pg_temp.rnd(:seed, 104, user_id) as u_created
    from generate_series(1, cast(:scale as bigint)) as user_id
),

kinds as (
    select
        user_id,
        u_dummy,
        u_created,
        case
            when u_system < 0.715 then 'grading'
            when u_system < 0.992 then 'coins'
        end as legacy_system,
        case
            when u_system < 0.992 then 'customer'
            when u_kind < 0.375 then 'staff'
            else 'test'
        end as kind
    from drawn
),

dated as (
    select
        user_id,
        legacy_system,
        kind,
        case
            when legacy_system is null
                then pg_temp.after_hours(
                    cast(:go_live as timestamptz), -24 - u_created * 24 * 89
                )
            when u_dummy < 0.02
                then cast('1900-01-01 00:00:00+00' as timestamptz)
            else pg_temp.after_hours(
                cast(:sim_start as timestamptz),
                -24 - power(u_created, 1.5) * 24 * 3650
            )
        end as created_at
    from kinds
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
        user_id,
        pg_temp.user_email(:seed, user_id, kind),
        pg_temp.display_name(:seed, user_id, false),
        legacy_system,
        kind = 'staff',
        created_at,
        case
            when legacy_system is null then created_at
            else cast(:sim_start as timestamptz)
        end
    from dated
    returning id
)

select setval(pg_get_serial_sequence('users', 'id'), max(id))
from inserted
having count(*) > 0;
