{#
    One row per event a launch metric counts, before any exclusion: marts
    exclude internal users' events. Deleted rows (soft or hard) are left out
    here, as the metric definitions say. Events whose user matches no user
    are kept and flagged (has_known_user).
    A table, not a view: both launch marts and its test read it, and as a view
    each of them would join every user again.
#}
{{ config(materialized='table') }}
with

users as (
    select
        user_id,
        legacy_system,
        is_internal,
        is_deleted,
        created_at
    from {{ ref('stg_accounts__users') }}
),

unified_accounts as (
    select
        user_id,
        activated_at,
        is_deleted
    from {{ ref('stg_accounts__unified_accounts') }}
),

submissions as (
    select
        submission_id,
        user_id,
        card_count,
        created_at,
        is_deleted
    from {{ ref('stg_grading__submissions') }}
),

vault_items as (
    select
        vault_item_id,
        user_id,
        created_at,
        is_deleted
    from {{ ref('stg_vault__vault_items') }}
),

vault_items_status_history as (
    select
        vault_item_id,
        status,
        valid_from
    from {{ ref('int_vault_items_status_history') }}
),

collection_items as (
    select
        collection_item_id,
        user_id,
        added_at,
        is_deleted
    from {{ ref('stg_collection__collection_items') }}
),

signups as (
    select
        'signup' as event_type,
        user_id as entity_id,
        user_id,
        created_at as event_at,
        0 as cards
    from users
    where
        legacy_system is null
        and created_at is not null
        and not is_deleted
),

legacy_conversions as (
    select
        'legacy_conversion' as event_type,
        users.user_id as entity_id,
        users.user_id,
        unified_accounts.activated_at as event_at,
        0 as cards
    from users
    inner join unified_accounts
        on users.user_id = unified_accounts.user_id
    where
        users.legacy_system is not null
        and unified_accounts.activated_at is not null
        and not users.is_deleted
        and not unified_accounts.is_deleted
),

submissions_created as (
    select
        'submission_created' as event_type,
        submission_id as entity_id,
        user_id,
        created_at as event_at,
        card_count as cards
    from submissions
    where not is_deleted
),

vault_items_requested as (
    select
        'vault_item_requested' as event_type,
        vault_item_id as entity_id,
        user_id,
        created_at as event_at,
        0 as cards
    from vault_items
    where not is_deleted
),

vault_items_stored as (
    select
        'vault_item_stored' as event_type,
        vault_items.vault_item_id as entity_id,
        vault_items.user_id,
        min(vault_items_status_history.valid_from) as event_at,
        0 as cards
    from vault_items_status_history
    inner join vault_items
        on vault_items_status_history.vault_item_id = vault_items.vault_item_id
    where
        vault_items_status_history.status = 'stored'
        and not vault_items.is_deleted
    group by 1, 2, 3
),

collection_items_added as (
    select
        'collection_item_added' as event_type,
        collection_item_id as entity_id,
        user_id,
        added_at as event_at,
        0 as cards
    from collection_items
    where not is_deleted
),

events as (
    select * from signups
    union all
    select * from legacy_conversions
    union all
    select * from submissions_created
    union all
    select * from vault_items_requested
    union all
    select * from vault_items_stored
    union all
    select * from collection_items_added
),

final as (
    select
        events.event_type,
        events.entity_id,
        events.user_id,
        events.event_at,
        events.cards,
        coalesce(users.is_internal, false) as is_internal_user,
        users.user_id is not null as has_known_user
    from events
    left join users
        on events.user_id = users.user_id
)

select * from final
