{#
    The CTEs that compute the launch metrics per UTC `datepart` (day or hour)
    from `events` (int_launch_events' columns) and `legacy_users` (one row,
    column legacy_users). The last CTE, `launch_metrics`, has one row per
    period from the go-live period to the last period with a counted event,
    or to `max_periods` periods after go-live at most, with the metrics in
    the marts' types. The model that calls
    it continues the WITH chain after it.
#}
{% macro launch_metric_ctes(events, legacy_users, datepart, max_periods=none) %}
{#-
    One pass over the events, without sorting them: the first aggregate
    keeps, per period, one row per user who added to their collection (and
    one for every other event), so the second counts those users as
    collection_active_users.
#}
events_by_collector as (
    select
        {{ utc_period(datepart, 'event_at') }} as period,
        case
            when event_type = 'collection_item_added' then user_id
        end as collecting_user_id,
        max(event_at) as last_event_at,
        sum(case when event_type = 'signup' then 1 else 0 end)
            as new_signups,
        sum(case when event_type = 'legacy_conversion' then 1 else 0 end)
            as legacy_conversions,
        sum(case when event_type = 'submission_created' then 1 else 0 end)
            as submissions_created,
        sum(case when event_type = 'submission_created' then cards else 0 end)
            as cards_submitted,
        sum(case when event_type = 'vault_item_requested' then 1 else 0 end)
            as vault_items_requested,
        sum(case when event_type = 'vault_item_stored' then 1 else 0 end)
            as vault_items_stored
    from {{ events }}
    where not is_internal_user
    group by 1, 2
),

metrics_by_period as (
    select
        period,
        max(last_event_at) as last_event_at,
        sum(new_signups) as new_signups,
        sum(legacy_conversions) as legacy_conversions,
        sum(submissions_created) as submissions_created,
        sum(cards_submitted) as cards_submitted,
        sum(vault_items_requested) as vault_items_requested,
        sum(vault_items_stored) as vault_items_stored,
        count(collecting_user_id) as collection_active_users
    from events_by_collector
    group by period
),

last_event as (
    select
        {%- if max_periods %}
        least(
            max(last_event_at),
            {{ dbt.dateadd(
                'hour' if datepart == 'hour' else 'day',
                max_periods - 1,
                utc_timestamp(var('go_live_at'))
            ) }}
        ) as last_event_at
        {%- else %}
        max(last_event_at) as last_event_at
        {%- endif %}
    from metrics_by_period
),

spine as (
    select {{ utc_period(datepart, 'launch_spine.period_start') }} as period
    from (
        {{ launch_spine(datepart, '(select last_event_at from last_event)') }}
    ) as launch_spine
),

conversions_before_spine as (
    select coalesce(sum(legacy_conversions), 0) as legacy_conversions
    from metrics_by_period
    where period < (select min(spine.period) from spine)
),

metrics_by_spine as (
    select
        spine.period,
        coalesce(metrics_by_period.new_signups, 0) as new_signups,
        coalesce(metrics_by_period.legacy_conversions, 0)
            as legacy_conversions,
        conversions_before_spine.legacy_conversions
        + sum(coalesce(metrics_by_period.legacy_conversions, 0)) over (
            order by spine.period rows unbounded preceding
        ) as cumulative_legacy_conversions,
        {{ legacy_users }}.legacy_users,
        coalesce(metrics_by_period.submissions_created, 0)
            as submissions_created,
        coalesce(metrics_by_period.cards_submitted, 0) as cards_submitted,
        coalesce(metrics_by_period.vault_items_requested, 0)
            as vault_items_requested,
        coalesce(metrics_by_period.vault_items_stored, 0)
            as vault_items_stored,
        coalesce(metrics_by_period.collection_active_users, 0)
            as collection_active_users
    from spine
    cross join conversions_before_spine
    cross join {{ legacy_users }}
    left join metrics_by_period
        on spine.period = metrics_by_period.period
),

launch_metrics as (
    select
        period,
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
    from metrics_by_spine
)
{% endmacro %}
