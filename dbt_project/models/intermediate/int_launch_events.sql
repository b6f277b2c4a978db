{#
    One row per event a launch metric counts, before any exclusion: marts
    exclude internal users' events. Deleted rows (soft or hard) are left out
    here, as the metric definitions say. Events whose user matches no user
    are kept and flagged (has_known_user).
    Incremental: a run first deletes, then recomputes, the events of the
    users, unified accounts and submissions that staging wrote since this
    model last ran (`_built_at`; a user's change reaches all their events,
    whose flags it sets), and all vault and collection events, which are few
    and whose staging is a view.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_changed_launch_events() }}",
    indexes=[
        {'columns': ['event_type', 'entity_id'], 'unique': true},
        {'columns': ['user_id']},
        {'columns': ['_built_at']},
    ],
    meta={'tests_scope_column': '_built_at'},
) }}
with

{% if is_incremental() %}
    changed_users as (
        select user_id
        from {{ ref('stg_accounts__users') }}
        where {{ built_since_held('_built_at') }}
        union
        select user_id
        from {{ ref('stg_accounts__unified_accounts') }}
        where {{ built_since_held('_built_at') }}
    ),
{% endif %}

users as (
    select
        user_id,
        legacy_system,
        is_internal,
        is_deleted,
        created_at
    from {{ ref('stg_accounts__users') }}
    {% if is_incremental() %}
        where user_id in (select changed_users.user_id from changed_users)
    {% endif %}
),

unified_accounts as (
    select
        user_id,
        activated_at,
        is_deleted
    from {{ ref('stg_accounts__unified_accounts') }}
    {% if is_incremental() %}
        where user_id in (select changed_users.user_id from changed_users)
    {% endif %}
),

user_flags as (
    select
        user_id,
        is_internal
    from {{ ref('stg_accounts__users') }}
),

submissions as (
    select
        submission_id,
        user_id,
        card_count,
        created_at,
        is_deleted,
        _built_at
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
    where
        not is_deleted
        {% if is_incremental() %}
            and (
                {{ built_since_held('_built_at') }}
                or user_id in (select changed_users.user_id from changed_users)
            )
        {% endif %}
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
        coalesce(user_flags.is_internal, false) as is_internal_user,
        user_flags.user_id is not null as has_known_user,
        {{ built_at() }} as _built_at
    from events
    left join user_flags
        on events.user_id = user_flags.user_id
)

select * from final
