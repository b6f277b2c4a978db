{#
    Only intervals that ended by a change of status count: a current one has
    not ended, and one ended by a deletion ends when the sync noticed it, not
    when it happened.
    The statuses declared in the `status_transitions` var are measured in one
    pass without sorting every interval by status (each percentile sorts only
    its own status's hours); any other status found is measured by a plain
    group by, which finds nothing when the histories pass their tests.
#}
{{ config(pre_hook="{{ sort_in_memory() }}") }}

{%- set declared = [] -%}
{%- for entity_type, lifecycle in var('status_transitions').items() -%}
    {%- set statuses = lifecycle['initial'] | list -%}
    {%- for status, targets in lifecycle['moves'].items() -%}
        {%- do statuses.append(status) -%}
        {%- do statuses.extend(targets) -%}
    {%- endfor -%}
    {%- for status in statuses | unique | sort -%}
        {%- do declared.append((entity_type, status)) -%}
    {%- endfor -%}
{%- endfor %}

with

status_history as (
    select
        entity_type,
        entity_id,
        status,
        hours_in_status
    from {{ ref('fct_status_history') }}
    where is_ended_by_change
),

declared_statuses as (
    select
    {% for entity_type, status in declared -%}
            {%- set hours -%}
                case
                    when entity_type = '{{ entity_type }}'
                        and status = '{{ status }}' then hours_in_status
                end
            {%- endset -%}
            count(
                distinct case
                    when
                        entity_type = '{{ entity_type }}'
                        and status = '{{ status }}' then entity_id
                end
            ) as entities_{{ loop.index }},
            {{ percentile(hours, 0.5) }} as median_hours_{{ loop.index }},
            {{ percentile(hours, 0.9) }} as p90_hours_{{ loop.index }}
            {{- ',' if not loop.last }}
    {% endfor %}
    from status_history
),

declared_time_in_status as (
    {%- for entity_type, status in declared %}
        select
            '{{ entity_type }}' as entity_type,
            '{{ status }}' as status,
            entities_{{ loop.index }} as entities,
            median_hours_{{ loop.index }} as median_hours,
            p90_hours_{{ loop.index }} as p90_hours
        from declared_statuses
        where entities_{{ loop.index }} > 0
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

other_time_in_status as (
    select
        entity_type,
        status,
        count(distinct entity_id) as entities,
        {{ percentile('hours_in_status', 0.5) }} as median_hours,
        {{ percentile('hours_in_status', 0.9) }} as p90_hours
    from status_history
    where
        not (
            {%- for entity_type, status in declared %}
                (entity_type = '{{ entity_type }}' and status = '{{ status }}')
                {{- ' or' if not loop.last }}
            {%- endfor %}
        )
    group by 1, 2
),

time_in_status as (
    select * from declared_time_in_status
    union all
    select * from other_time_in_status
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
