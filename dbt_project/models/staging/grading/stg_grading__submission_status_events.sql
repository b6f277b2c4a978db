{# Incremental, like stg_accounts__users (see there why). #}
{{ config(
    materialized='incremental',
    unique_key='status_event_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
        {'columns': ['status_event_id'], 'unique': true},
        {'columns': ['submission_id']},
        {'columns': ['_built_at']},
        {'columns': ['changed_at']},
        {'columns': ['deletion_noticed_at']},
    ],
    meta={'tests_scope_column': '_built_at'},
    post_hook="{{ analyze_relation(this) }}",
) }}

with

submission_status_events as (
    select * from {{ source('grading', 'submission_status_events') }}
    {% if is_incremental() %}
        where {{ source_rows_changed('changed_at') }}
    {% endif %}
),

submission_statuses as (
    select
        code,
        name
    from {{ source('grading', 'submission_statuses') }}
),

renamed as (
    select
        submission_status_events.id as status_event_id,
        submission_status_events.submission_id,
        submission_status_events.from_status as from_status_code,
        case
            when submission_status_events.from_status is not null
                then coalesce(from_statuses.name, 'unknown')
        end as from_status,
        submission_status_events.to_status as to_status_code,
        coalesce(to_statuses.name, 'unknown') as to_status,
        submission_status_events.changed_at,
        submission_status_events._ingestion_deleted_at is not null
            as is_deleted,
        submission_status_events._ingestion_deleted_at as deletion_noticed_at,
        {{ built_at() }} as _built_at
    from submission_status_events
    left join submission_statuses as from_statuses
        on submission_status_events.from_status = from_statuses.code
    left join submission_statuses as to_statuses
        on submission_status_events.to_status = to_statuses.code
)

select * from renamed
