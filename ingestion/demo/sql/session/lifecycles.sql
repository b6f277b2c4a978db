-- When things happen to an entity: pure functions of the seed, its id and the
-- times it already has.

-- A legacy user's first sign-in to the unified account: 60 percent ever, an
-- exponential delay with a mean of 28 hours after go-live; null: never.
create function pg_temp.activation_at(
    seed bigint, go_live timestamptz, user_id bigint
)
returns timestamptz
language sql stable parallel safe
as $$
    select case
        when pg_temp.rnd(seed, 121, user_id) < 0.6
            then pg_temp.after_hours(
                go_live, -ln(1 - pg_temp.rnd(seed, 122, user_id)) * 28
            )
    end
$$;

-- When a unified account becomes active: the first sign-in of a migrated
-- legacy user, the creation of any other account.
create function pg_temp.account_activated_at(
    seed bigint,
    go_live timestamptz,
    user_id bigint,
    migrated boolean,
    created_at timestamptz
)
returns timestamptz
language sql stable parallel safe
as $$
    select case
        when migrated then pg_temp.activation_at(seed, go_live, user_id)
        else created_at
    end
$$;

-- 1 percent of active accounts are locked 1-72 hours after activation.
create function pg_temp.locked_at(
    seed bigint, user_id bigint, activated_at timestamptz
)
returns timestamptz
language sql stable parallel safe
as $$
    select case
        when pg_temp.rnd(seed, 141, user_id) < 0.01
            then pg_temp.after_hours(
                activated_at, pg_temp.uniform_hours(seed, 142, user_id, 1, 72)
            )
    end
$$;

-- Profile edits: 30 percent of the legacy users who activate edit within 48
-- hours of activating; 20 percent of the others 1-240 hours after signing up.
create function pg_temp.user_edited_at(
    seed bigint,
    go_live timestamptz,
    user_id bigint,
    legacy_system text,
    created_at timestamptz
)
returns timestamptz
language sql stable parallel safe
as $$
    select case
        when pg_temp.rnd(seed, 171, user_id) >= 0.3 then null
        when legacy_system is not null
            then pg_temp.after_hours(
                pg_temp.activation_at(seed, go_live, user_id),
                pg_temp.uniform_hours(seed, 172, user_id, 0.05, 48)
            )
        when pg_temp.rnd(seed, 171, user_id) < 0.2
            then pg_temp.after_hours(
                created_at, pg_temp.uniform_hours(seed, 172, user_id, 1, 240)
            )
    end
$$;

-- A submission's user: one of the users that existed when it was made, except
-- for 0.5 percent whose user id matches no user.
create function pg_temp.has_unknown_user(seed bigint, submission_id bigint)
returns boolean
language sql immutable parallel safe
as $$
    select pg_temp.rnd(seed, 211, submission_id) < 0.005
$$;

create function pg_temp.submission_user(
    seed bigint, submission_id bigint, users_before bigint
)
returns bigint
language sql immutable parallel safe
as $$
    select case
        when pg_temp.has_unknown_user(seed, submission_id)
            then users_before + 10000000 + cast(
                floor(pg_temp.rnd(seed, 212, submission_id) * 1000000)
                as bigint
            )
        else 1 + cast(
            floor(pg_temp.rnd(seed, 213, submission_id) * users_before)
            as bigint
        )
    end
$$;

-- 8 percent of vault requests are cancelled 1-20 hours after creation; they
-- are hard-deleted then.
create function pg_temp.is_vault_item_cancelled(
    seed bigint, vault_item_id bigint
)
returns boolean
language sql immutable parallel safe
as $$
    select pg_temp.rnd(seed, 331, vault_item_id) < 0.08
$$;

create function pg_temp.vault_cancelled_at(
    seed bigint, vault_item_id bigint, created_at timestamptz
)
returns timestamptz
language sql stable parallel safe
as $$
    select case
        when pg_temp.is_vault_item_cancelled(seed, vault_item_id)
            then pg_temp.after_hours(
                created_at,
                pg_temp.uniform_hours(seed, 332, vault_item_id, 1, 20)
            )
    end
$$;

-- 10 percent of collection items are removed (hard-deleted) 1-100 hours after
-- they were added.
create function pg_temp.collection_removed_at(
    seed bigint, collection_item_id bigint, added_at timestamptz
)
returns timestamptz
language sql stable parallel safe
as $$
    select case
        when pg_temp.rnd(seed, 421, collection_item_id) < 0.1
            then pg_temp.after_hours(
                added_at,
                pg_temp.uniform_hours(seed, 422, collection_item_id, 1, 100)
            )
    end
$$;

-- 5 percent of the stored vault items are withdrawn later.
create function pg_temp.is_vault_item_withdrawn(
    seed bigint, vault_item_id bigint
)
returns boolean
language sql immutable parallel safe
as $$
    select pg_temp.rnd(seed, 365, vault_item_id) < 0.05
$$;
