{#
    No two rows share the same values in all of `combination`. Where a unique
    index on NOT NULL columns enforces it, the scan is skipped.
#}
{% test unique_combination_of_columns(model, combination) %}

select
    {{ combination | join(', ') }},
    count(*) as rows_with_these_values
from {{ model }}
where not {{ enforced_unique(model, combination, nulls_collide=true) }}
group by {{ combination | join(', ') }}
having count(*) > 1

{% endtest %}
