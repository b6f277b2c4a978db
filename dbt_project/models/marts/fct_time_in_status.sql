{#
    Only intervals that ended by a change of status count: a current one has
    not ended, and one ended by a deletion ends when the sync noticed it, not
    when it happened.
#}
{{ config(pre_hook="{{ sort_in_memory() }}") }}

with

status_history as (
    select
        entity_type,
        entity_id,
        status,
        hours_in_status,
        is_ended_by_change
    from {{ ref('fct_status_history') }}
),

time_in_status as (
    select
        entity_type,
        status,
        count(distinct entity_id) as entities,
        {{ percentile('hours_in_status', 0.5) }} as median_hours,
        {{ percentile('hours_in_status', 0.9) }} as p90_hours
    from status_history
    where is_ended_by_change
    group by 1, 2
),

final as (
    select
        entity_type,
        status,
        cast(entities as {{ dbt.type_bigint() }}) as entities,
        cast(round(cast(median_hours as numeric), 2) as numeric(14, 2))
            as median_hours,
        cast(round(cast(p90_hours as numeric), 2) as numeric(14, 2))
            as p90_hours
    from time_in_status
)

select * from final
