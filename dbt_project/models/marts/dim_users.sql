with

users as (
    select
        user_id,
        email_hash,
        legacy_system,
        is_legacy,
        is_internal,
        created_at
    from {{ ref('stg_accounts__users') }}
),

unified_accounts as (
    select
        user_id,
        status,
        is_migrated,
        activated_at
    from {{ ref('stg_accounts__unified_accounts') }}
),

final as (
    select
        users.user_id,
        users.legacy_system,
        users.is_internal,
        coalesce(unified_accounts.is_migrated, false) as is_migrated,
        unified_accounts.status as unified_status,
        case
            when users.is_legacy then unified_accounts.activated_at
        end as converted_at,
        users.created_at as signed_up_at,
        users.email_hash
    from users
    left join unified_accounts
        on users.user_id = unified_accounts.user_id
)

select * from final
