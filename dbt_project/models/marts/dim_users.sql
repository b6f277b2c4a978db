{#
    Incremental: a run merges only the users whose row or unified account
    changed in production since the latest change it holds (less the lookback
    var), so keeping a million users current costs what changed.
#}
{{ config(
    materialized='incremental',
    unique_key='user_id',
    incremental_strategy='merge',
    on_schema_change='fail'
) }}

with

users as (
    select
        user_id,
        email_hash,
        legacy_system,
        is_legacy,
        is_internal,
        created_at,
        updated_at,
        deletion_noticed_at
    from {{ ref('stg_accounts__users') }}
),

unified_accounts as (
    select
        user_id,
        status,
        is_migrated,
        activated_at,
        updated_at,
        deletion_noticed_at
    from {{ ref('stg_accounts__unified_accounts') }}
),

users_with_accounts as (
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
        users.email_hash,
        greatest(
            users.updated_at,
            unified_accounts.updated_at,
            users.deletion_noticed_at,
            unified_accounts.deletion_noticed_at
        ) as last_changed_at
    from users
    left join unified_accounts
        on users.user_id = unified_accounts.user_id
),

final as (
    select
        user_id,
        legacy_system,
        is_internal,
        is_migrated,
        unified_status,
        converted_at,
        signed_up_at,
        email_hash,
        last_changed_at
    from users_with_accounts
    {% if is_incremental() %}
        where
            last_changed_at >= (
                select
                    {{ dbt.dateadd(
                        'hour',
                        -var('history_lookback_hours'),
                        'max(last_changed_at)'
                    ) }}
                from {{ this }}
            )
    {% endif %}
)

select * from final
