{#
    Production keeps no vault history: the snapshot's versions are the record.
    Each version starts when its status did (the timestamp strategy reads
    production's updated_at), so intervals are exact, but a status that began
    and ended between two syncs is never seen. An item's history is complete
    when its first recorded status is where every item starts (requested);
    items already further along at the first sync are flagged.
#}
{#
    A table, analyzed: read as a view, its window functions hide how many
    rows each step keeps, and the planner's guesses made the launch events
    join every interval with every vault item.
#}
{{ config(
    materialized='table',
    post_hook="{{ analyze_relation(this, only_built_whole=false) }}",
) }}

with

vault_item_versions as (
    select
        id,
        status,
        dbt_valid_from,
        dbt_is_deleted
    from {{ ref('snap_vault__vault_items') }}
),

vault_items as (
    select
        vault_item_id,
        deletion_noticed_at
    from {{ ref('stg_vault__vault_items') }}
),

removals as (
    select
        id as vault_item_id,
        min(dbt_valid_from) as removed_at
    from vault_item_versions
    where dbt_is_deleted = 'True'
    group by 1
),

status_changes as (
    select
        vault_item_versions.id as vault_item_id,
        vault_item_versions.status,
        vault_item_versions.dbt_valid_from as changed_at,
        coalesce(
            vault_items.deletion_noticed_at, removals.removed_at
        ) as ended_at
    from vault_item_versions
    left join vault_items
        on vault_item_versions.id = vault_items.vault_item_id
    left join removals
        on vault_item_versions.id = removals.vault_item_id
    where coalesce(vault_item_versions.dbt_is_deleted, 'False') != 'True'
),

intervals as (
    select *
    from {{ status_intervals(
        'status_changes',
        entity_id='vault_item_id',
        status='status',
        changed_at='changed_at',
        order_by='status',
        ended_at='ended_at'
    ) }} as vault_item_intervals
),

numbered_intervals as (
    select
        entity_id,
        status,
        row_number() over (
            partition by entity_id order by valid_from
        ) as interval_number
    from intervals
),

first_statuses as (
    select
        entity_id as vault_item_id,
        status as first_status
    from numbered_intervals
    where interval_number = 1
),

final as (
    select
        intervals.entity_id as vault_item_id,
        intervals.status,
        intervals.valid_from,
        intervals.valid_to,
        intervals.hours_in_status,
        intervals.is_current,
        intervals.is_ended_by_change,
        first_statuses.first_status = 'requested' as is_history_complete
    from intervals
    inner join first_statuses
        on intervals.entity_id = first_statuses.vault_item_id
)

select * from final
