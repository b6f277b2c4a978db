{#
    Turns recorded statuses (one row per entity and moment a status was seen to
    begin: a changelog's events, or a snapshot's versions) into intervals.
    A repeated status (a version that changed something else) continues its
    interval; a status that returns opens a new one. Changes in the same second
    are ordered by `order_by`. An interval ends when the next one begins
    (`is_ended_by_change`), or at `ended_at` (when the entity was deleted); the
    last one of an entity that was not deleted is current.
#}
{% macro status_intervals(
    changes,
    entity_id='entity_id',
    status='status',
    changed_at='changed_at',
    order_by='changed_at',
    ended_at=none
) -%}
    (
        with

        ordered as (
            select
                {{ entity_id }} as entity_id,
                {{ status }} as status,
                {{ changed_at }} as changed_at,
                {{ ended_at if ended_at else 'cast(null as ' ~ dbt.type_timestamp() ~ ')' }}
                    as ended_at,
                row_number() over (
                    partition by {{ entity_id }}
                    order by {{ changed_at }}, {{ order_by }}
                ) as change_number
            from {{ changes }}
        ),

        with_previous as (
            select
                entity_id,
                status,
                changed_at,
                ended_at,
                change_number,
                lag(status) over (
                    partition by entity_id order by change_number
                ) as previous_status
            from ordered
        ),

        starts as (
            select
                entity_id,
                status,
                changed_at as valid_from,
                ended_at,
                change_number
            from with_previous
            where
                previous_status is null
                or previous_status != status
        ),

        bounded as (
            select
                entity_id,
                status,
                valid_from,
                coalesce(
                    lead(valid_from) over (
                        partition by entity_id order by change_number
                    ),
                    ended_at
                ) as valid_to,
                lead(valid_from) over (
                    partition by entity_id order by change_number
                ) is not null as is_ended_by_change
            from starts
        )

        select
            entity_id,
            status,
            valid_from,
            valid_to,
            cast(
                {{ dbt.datediff('valid_from', 'valid_to', 'second') }} / 3600.0
                as {{ dbt.type_numeric() }}
            ) as hours_in_status,
            valid_to is null as is_current,
            is_ended_by_change
        from bounded
    )
{%- endmacro %}
