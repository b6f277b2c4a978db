{{ config(pre_hook="{{ sort_in_memory() }}") }}

with

launch_events as (
    select
        event_type,
        user_id,
        event_at,
        cards,
        is_internal_user
    from {{ ref('int_launch_events') }}
),

users as (
    select
        user_id,
        legacy_system,
        is_internal
    from {{ ref('dim_users') }}
),

legacy_users as (
    select count(*) as legacy_users
    from users
    where legacy_system is not null and not is_internal
),

{{ launch_metric_ctes(
    'launch_events', 'legacy_users', 'hour', var('launch_hours')
) }},

final as (
    select
        period as metric_hour,
        new_signups,
        legacy_conversions,
        cumulative_legacy_conversions,
        legacy_conversion_rate,
        submissions_created,
        cards_submitted,
        vault_items_requested,
        vault_items_stored,
        collection_active_users
    from launch_metrics
)

select * from final
