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
        cast(new_signups as {{ dbt.type_bigint() }}) as new_signups,
        cast(legacy_conversions as {{ dbt.type_bigint() }})
            as legacy_conversions,
        cast(cumulative_legacy_conversions as {{ dbt.type_bigint() }})
            as cumulative_legacy_conversions,
        cast(
            round(
                cast(cumulative_legacy_conversions as numeric)
                / nullif(legacy_users, 0),
                6
            ) as numeric(9, 6)
        ) as legacy_conversion_rate,
        cast(submissions_created as {{ dbt.type_bigint() }})
            as submissions_created,
        cast(cards_submitted as {{ dbt.type_bigint() }}) as cards_submitted,
        cast(vault_items_requested as {{ dbt.type_bigint() }})
            as vault_items_requested,
        cast(vault_items_stored as {{ dbt.type_bigint() }})
            as vault_items_stored,
        cast(collection_active_users as {{ dbt.type_bigint() }})
            as collection_active_users
    from launch_metrics
)

select * from final
