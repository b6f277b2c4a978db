{#
    The continuous percentile (`fraction`, 0 to 1) of `column` over the rows
    of `relation` that match `filter` and belong to the group of the outer
    row `group_row` (equal `group_columns`), as percentile_cont computes it:
    the two values around position fraction * (n - 1) in ascending order,
    interpolated in double precision. `measured` is the outer row's column
    holding n, the count of non-null values.
    Only those two values are read: with an index on the group columns and
    `column`, the walk to them replaces percentile_cont's sort of every
    row. The result is a scalar subquery.
#}
{% macro percentile(
    relation, column, fraction, group_row, group_columns, measured,
    filter='true'
) -%}
    {%- set position -%}
        cast({{ fraction }} as {{ dbt.type_float() }})
        * ({{ group_row }}.{{ measured }} - 1)
    {%- endset -%}
    (
        select
            min(around.value)
            + (max(around.value) - min(around.value))
            * (({{ position }}) - floor({{ position }}))
        from (
            select cast(ranked.{{ column }} as {{ dbt.type_float() }}) as value
            from {{ relation }} as ranked
            where
                ({{ filter }})
                and ranked.{{ column }} is not null
                {%- for group_column in group_columns %}
                    and ranked.{{ group_column }}
                    = {{ group_row }}.{{ group_column }}
                {%- endfor %}
            order by ranked.{{ column }}
            limit 2
            offset cast(floor({{ position }}) as {{ dbt.type_bigint() }})
        ) as around
    )
{%- endmacro %}
