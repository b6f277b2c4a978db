{#
    Incremental: a run replaces only the users whose row or unified account
    staging wrote since this model last ran (`_built_at`), so keeping a
    million users current costs what changed.
#}
{{ config(
    materialized='incremental',
    unique_key='user_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[{'columns': ['_built_at']}],
    meta={'tests_scope_column': '_built_at'},
    post_hook="{{ analyze_relation(this) }}",
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

{% if is_incremental() %}
    changed_users as (
        {{ keys_built_since_held('user_id', [
            ref('stg_accounts__users'), ref('stg_accounts__unified_accounts')
        ]) }}
    ),
{% endif %}

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
    {% if is_incremental() %}
        inner join changed_users
            on users.user_id = changed_users.user_id
    {% endif %}
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
        last_changed_at,
        {{ built_at() }} as _built_at
    from users_with_accounts
)

select * from final
