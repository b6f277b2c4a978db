{#
    Like `relationships`, for a promise the source is known to break a little:
    the failure count is the share of non-null values that match nothing in
    `to`, in basis points (hundredths of a percent, rounded up), so `warn_if`
    and `error_if` thresholds state the tolerance. The failing rows are the
    unmatched values.
#}
{% test relationships_within_tolerance(model, column_name, to, field) %}
{{ config(
    fail_calc='coalesce(max(unmatched_basis_points), 0)',
    warn_if='>0',
    error_if='>0'
) }}

with

children as (
    select {{ column_name }} as child_value
    from {{ model }}
    where {{ column_name }} is not null
),

parents as (
    select {{ field }} as parent_value
    from {{ to }}
),

unmatched as (
    select children.child_value
    from children
    left join parents
        on children.child_value = parents.parent_value
    where parents.parent_value is null
)

select
    unmatched.child_value,
    cast(
        ceil(
            10000.0 * (select count(*) from unmatched)
            / (select count(*) from children)
        ) as integer
    ) as unmatched_basis_points
from unmatched

{% endtest %}
