{#
    Every change from one status to the next, per entity and in order, is one
    the var `status_transitions` declares for the entity's type, and each
    entity's first status is one of the type's `initial` statuses (when the
    history starts at the entity's creation). A move to or from `unknown` (a
    code staging could not decode) is left to the tests that warn about it.
#}
{% test allowed_transitions(
    model,
    entity_type,
    entity_id,
    status,
    valid_from,
    starts_at_creation='true'
) %}

{%- set declared = var('status_transitions') -%}

with

allowed (entity_type, from_status, to_status) as (
    values
    {%- for type_name, statuses in declared.items() %}
        {%- set type_loop = loop %}
        {%- for initial in statuses['initial'] %}
        ('{{ type_name }}', '', '{{ initial }}'),
        {%- endfor %}
        {%- for from_status, to_statuses in statuses['moves'].items() %}
            {%- set from_loop = loop %}
            {%- for to_status in to_statuses %}
        ('{{ type_name }}', '{{ from_status }}', '{{ to_status }}')
        {{- '' if type_loop.last and from_loop.last and loop.last else ',' }}
            {%- endfor %}
        {%- endfor %}
    {%- endfor %}
),

changes as (
    select
        {{ entity_type }} as entity_type,
        {{ entity_id }} as entity_id,
        {{ status }} as to_status,
        {{ starts_at_creation }} as starts_at_creation,
        lag({{ status }}) over (
            partition by {{ entity_type }}, {{ entity_id }}
            order by {{ valid_from }}
        ) as from_status
    from {{ model }}
)

select changes.*
from changes
left join allowed
    on
        changes.entity_type = allowed.entity_type
        and coalesce(changes.from_status, '') = allowed.from_status
        and changes.to_status = allowed.to_status
where
    allowed.to_status is null
    and (changes.from_status is not null or changes.starts_at_creation)
    and 'unknown' not in (changes.to_status, coalesce(changes.from_status, ''))

{% endtest %}
