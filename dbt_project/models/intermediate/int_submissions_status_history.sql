{#
    The changelog records every change since a submission's creation, so this
    history is complete from the start. A soft- or hard-deleted submission's
    last interval ends when it was deleted (or when its removal was noticed).
    Incremental: a run recomputes only the submissions whose changelog or row
    staging wrote since this model last ran (`_built_at`); the changelog is
    the bulk of the grading data.
#}
{{ config(
    materialized='incremental',
    unique_key='submission_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
        {'columns': ['submission_id', 'valid_from', 'status'], 'unique': true},
        {'columns': ['_built_at']},
    ],
    post_hook="{{ analyze_relation(this) }}",
) }}

with

{% if is_incremental() %}
    changed_submissions as (
        {{ keys_built_since_held('submission_id', [
            ref('stg_grading__submission_status_events'),
            ref('stg_grading__submissions'),
        ]) }}
    ),
{% endif %}

submission_status_events as (
    select
        status_event_id,
        submission_id,
        to_status,
        changed_at
    from {{ ref('stg_grading__submission_status_events') }}
    {% if is_incremental() %}
        where
            submission_id in (
                select changed_submissions.submission_id
                from changed_submissions
            )
    {% endif %}
),

submissions as (
    select
        submission_id,
        deleted_at,
        deletion_noticed_at
    from {{ ref('stg_grading__submissions') }}
    {% if is_incremental() %}
        where
            submission_id in (
                select changed_submissions.submission_id
                from changed_submissions
            )
    {% endif %}
),

status_changes as (
    select
        submission_status_events.status_event_id,
        submission_status_events.submission_id,
        submission_status_events.to_status,
        submission_status_events.changed_at,
        coalesce(
            submissions.deleted_at, submissions.deletion_noticed_at
        ) as ended_at
    from submission_status_events
    inner join submissions
        on submission_status_events.submission_id = submissions.submission_id
),

intervals as (
    select *
    from {{ status_intervals(
        'status_changes',
        entity_id='submission_id',
        status='to_status',
        changed_at='changed_at',
        order_by='status_event_id',
        ended_at='ended_at'
    ) }} as submission_intervals
),

final as (
    select
        entity_id as submission_id,
        status,
        valid_from,
        valid_to,
        hours_in_status,
        is_current,
        is_ended_by_change,
        {{ built_at() }} as _built_at
    from intervals
)

select * from final
