{#
    One row per vault or collection event a launch metric counts, before any
    exclusion; deleted rows are left out. A view: int_launch_events reads it
    whole on every run, as vault and collection items are few and their
    staging keeps no change time.
#}
with

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
    select * from vault_items_requested
    union all
    select * from vault_items_stored
    union all
    select * from collection_items_added
),

final as (
    select
        event_type,
        entity_id,
        user_id,
        event_at,
        cards
    from events
)

select * from final
