{#
    Each entity's intervals, in order, leave no gap and do not overlap: every
    interval starts where the one before it ended, and only the last one may
    be open (valid_to null).
#}
{% test contiguous_intervals(model, entity, valid_from, valid_to) %}

with

ordered as (
    select
        {{ entity | join(', ') }},
        {{ valid_from }} as valid_from,
        {{ valid_to }} as valid_to,
        lead({{ valid_from }}) over (
            partition by {{ entity | join(', ') }}
            order by {{ valid_from }}, {{ valid_to }}
        ) as next_valid_from
    from {{ model }}
)

select *
from ordered
where
    valid_to < valid_from
    or (next_valid_from is not null and valid_to is null)
    or next_valid_from != valid_to

{% endtest %}
