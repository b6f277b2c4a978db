{#
    Only intervals that ended by a change of status count: a current one has
    not ended, and one ended by a deletion ends when the sync noticed it, not
    when it happened.
    Entities are counted, and each percentile read, from the partial indexes
    that fct_status_history keeps over these intervals: no step sorts a
    million intervals, and the percentiles equal percentile_cont's.
#}
with

ended_intervals as (
    select
        entity_type,
        status,
        count(distinct entity_id) as entities,
        count(hours_in_status) as measured
    from {{ ref('fct_status_history') }}
    where is_ended_by_change
    group by 1, 2
),

{%- set hours_in_status = {
    'relation': ref('fct_status_history'),
    'column': 'hours_in_status',
    'group_row': 'ended_intervals',
    'group_columns': ['entity_type', 'status'],
    'measured': 'measured',
    'filter': 'ranked.is_ended_by_change',
} %}

time_in_status as (
    select
        ended_intervals.entity_type,
        ended_intervals.status,
        ended_intervals.entities,
        {{ percentile(fraction=0.5, **hours_in_status) }} as median_hours,
        {{ percentile(fraction=0.9, **hours_in_status) }} as p90_hours
    from ended_intervals
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
