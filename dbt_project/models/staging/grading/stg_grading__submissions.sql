{# Incremental, like stg_accounts__users (see there why). #}
{{ config(
    materialized='incremental',
    unique_key='submission_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
        {'columns': ['submission_id'], 'unique': true},
        {'columns': ['_built_at']},
        {'columns': ['updated_at']},
        {'columns': ['deletion_noticed_at']},
    ],
    meta={'tests_scope_column': '_built_at'},
    post_hook="{{ analyze_relation(this) }}",
) }}

with

submissions as (
    select * from {{ source('grading', 'submissions') }}
    {% if is_incremental() %}
        where {{ source_rows_changed('updated_at') }}
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
        submissions.id as submission_id,
        submissions.user_id,
        submissions.service_level_id,
        submissions.status_code,
        coalesce(submission_statuses.name, 'unknown') as status,
        submissions.card_count,
        submissions.declared_value_usd,
        -- flags
        submissions.deleted_at is not null as is_soft_deleted,
        submissions._ingestion_deleted_at is not null as is_hard_deleted,
        submissions.deleted_at is not null
        or submissions._ingestion_deleted_at is not null as is_deleted,
        -- timestamps
        {{ to_utc('submissions.submitted_at', var('grading_local_tz')) }}
            as submitted_at,
        submissions.created_at,
        submissions.updated_at,
        submissions.deleted_at,
        submissions._ingestion_deleted_at as deletion_noticed_at,
        {{ built_at() }} as _built_at
    from submissions
    left join submission_statuses
        on submissions.status_code = submission_statuses.code
)

select * from renamed
