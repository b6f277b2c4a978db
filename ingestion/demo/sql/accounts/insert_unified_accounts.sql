-- Unified accounts made in (t0, t1]. The pre-launch batch migration invites
-- every legacy user over the 3 days before go-live (migrated, 'invited');
-- accounts made on the new platform are active from the start. The accounts of
-- the users that exist at go-live are numbered by creation time; a sign-up's
-- account has the user's id.
with

initial_users as (
    select
        id as user_id,
        legacy_system is not null as migrated,
        case
            when legacy_system is not null
                then pg_temp.after_hours(
                    cast(:go_live as timestamptz),
                    -pg_temp.uniform_hours(:seed, 131, id, 0, 72)
                )
        end as invited_at,
        created_at
    from users
    where
        id <= :scale
        and cast(:t0 as timestamptz) < cast(:go_live as timestamptz)
),

initial_accounts as (
    select
        row_number() over (
            order by coalesce(invited_at, created_at), user_id
        ) as id,
        user_id,
        migrated,
        invited_at,
        coalesce(invited_at, created_at) as created_at
    from initial_users
),

signup_accounts as (
    select
        id,
        id as user_id,
        false as migrated,
        cast(null as timestamptz) as invited_at,
        created_at
    from users
    where
        id > :scale
        and created_at > :t0
        and created_at <= :t1
),

new_accounts as (
    select * from initial_accounts
    where created_at > :t0 and created_at <= :t1
    union all
    select * from signup_accounts
),

inserted as (
    insert into unified_accounts (
        id,
        user_id,
        status,
        migrated,
        invited_at,
        activated_at,
        created_at,
        updated_at
    )
    select
        id,
        user_id,
        case when migrated then 'invited' else 'active' end,
        migrated,
        invited_at,
        case when not migrated then created_at end,
        created_at,
        created_at
    from new_accounts
    returning id
)

select setval(pg_get_serial_sequence('unified_accounts', 'id'), max(id))
from inserted
having count(*) > 0;
