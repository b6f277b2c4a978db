{#
    Incremental: a run replaces the whole history of each submission that
    int_submissions_status_history rewrote since this model last ran
    (`_built_at`), and of every vault item (their snapshot history is small
    and a deletion ends it at a time of the snapshot's clock).
    Two partial indexes over the intervals that ended by a change serve
    fct_time_in_status: it counts entities and reads percentiles from them
    without sorting a million intervals.
#}
{{ config(
    materialized='incremental',
    unique_key=['entity_type', 'entity_id'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[{'columns': ['_built_at']}],
    meta={'tests_scope_column': '_built_at'},
    post_hook=[
        "{{ ensure_index(this, ['entity_type', 'status', 'entity_id'],
            include=['hours_in_status'], where='is_ended_by_change') }}",
        "{{ ensure_index(this, ['entity_type', 'status', 'hours_in_status'],
            where='is_ended_by_change') }}",
        "{{ analyze_relation(this) }}",
        {'sql': "{{ vacuum_relation(this) }}", 'transaction': false},
    ],
) }}

with

submissions_status_history as (
    select
        submission_id,
        status,
        valid_from,
        valid_to,
        hours_in_status,
        is_current,
        is_ended_by_change
    from {{ ref('int_submissions_status_history') }}
    {% if is_incremental() %}
        where {{ built_since_held('_built_at') }}
    {% endif %}
),

vault_items_status_history as (
    select
        vault_item_id,
        status,
        valid_from,
        valid_to,
        hours_in_status,
        is_current,
        is_ended_by_change
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
        is_ended_by_change,
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
        is_ended_by_change,
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
        is_ended_by_change,
        history_source,
        {{ built_at() }} as _built_at
    from histories
)

select * from final
