with

submissions_status_history as (
    select
        submission_id,
        status,
        valid_from,
        valid_to,
        hours_in_status,
        is_current
    from {{ ref('int_submissions_status_history') }}
),

vault_items_status_history as (
    select
        vault_item_id,
        status,
        valid_from,
        valid_to,
        hours_in_status,
        is_current
    from {{ ref('int_vault_items_status_history') }}
),

histories as (
    select
        'submission' as entity_type,
        submission_id as entity_id,
        status,
        valid_from,
        valid_to,
        hours_in_status,
        is_current,
        'changelog' as history_source
    from submissions_status_history
    union all
    select
        'vault_item' as entity_type,
        vault_item_id as entity_id,
        status,
        valid_from,
        valid_to,
        hours_in_status,
        is_current,
        'snapshot' as history_source
    from vault_items_status_history
),

final as (
    select
        entity_type,
        entity_id,
        status,
        valid_from,
        valid_to,
        cast(round(hours_in_status, 4) as numeric(14, 4)) as hours_in_status,
        is_current,
        history_source
    from histories
)

select * from final
