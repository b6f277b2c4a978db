-- Invited accounts become active at the user's first sign-in; 1 percent of
-- active accounts are locked later. Every account that changes by t1 gets its
-- state at t1.
update unified_accounts
set (status, activated_at, updated_at) = (
    select
        case
            when lifecycle.locked_at <= :t1 then 'locked' else 'active'
        end,
        lifecycle.activated_at,
        greatest(
            unified_accounts.created_at,
            lifecycle.activated_at,
            case when lifecycle.locked_at <= :t1 then lifecycle.locked_at end
        )
    from (
        select
            activation.activated_at,
            pg_temp.locked_at(
                :seed, unified_accounts.user_id, activation.activated_at
            ) as locked_at
        from (
            select
                pg_temp.account_activated_at(
                    :seed,
                    :go_live,
                    unified_accounts.user_id,
                    unified_accounts.migrated,
                    unified_accounts.created_at
                ) as activated_at
        ) as activation
    ) as lifecycle
)
where
    (
        status = 'invited'
        and pg_temp.account_activated_at(
            :seed, :go_live, user_id, migrated, created_at
        ) <= :t1
    )
    or (
        status = 'active'
        and pg_temp.locked_at(:seed, user_id, activated_at) <= :t1
    );
