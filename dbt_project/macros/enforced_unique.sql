{#
    SQL that is true when the warehouse itself guarantees that `columns` are
    unique in `relation`: a valid unique index, without predicate or
    expressions, on some of these columns. For a combination of columns the
    index's columns must also be NOT NULL, as two NULLs never collide in an
    index but do in a GROUP BY. The uniqueness tests skip their scan when it
    holds, so a million-row key enforced by a constraint costs a catalog
    lookup; where it does not hold (a view, a dropped index) they scan.
#}
{% macro enforced_unique(relation, columns, nulls_collide=false) -%}
    {{ return(adapter.dispatch('enforced_unique')(
        relation, columns, nulls_collide
    )) }}
{%- endmacro %}

{% macro default__enforced_unique(relation, columns, nulls_collide) -%}
    false
{%- endmacro %}

{% macro postgres__enforced_unique(relation, columns, nulls_collide) -%}
    {%- if relation.identifier is defined and relation.identifier -%}
        {%- set names = [] -%}
        {%- for column in columns -%}
            {%- do names.append(
                "'" ~ (column | trim | replace('"', '') | replace("'", "''"))
                ~ "'"
            ) -%}
        {%- endfor -%}
        exists (
            select
            from pg_catalog.pg_index as enforced_index
            where
                enforced_index.indrelid = to_regclass(
                    '{{ relation.include(database=false) | replace("'", "''") }}'
                )
                and enforced_index.indisunique
                and enforced_index.indisvalid
                and enforced_index.indpred is null
                and enforced_index.indexprs is null
                and not exists (
                    select
                    from unnest(
                        (enforced_index.indkey::int2 [])[
                            0:enforced_index.indnkeyatts - 1
                        ]
                    ) as index_key (attnum)
                    left join pg_catalog.pg_attribute as index_column
                        on
                            enforced_index.indrelid = index_column.attrelid
                            and index_key.attnum = index_column.attnum
                    where
                        index_column.attname is null
                        or index_column.attname not in ({{ names | join(', ') }})
                        {%- if nulls_collide %}
                            or not (
                                index_column.attnotnull
                                or enforced_index.indnullsnotdistinct
                            )
                        {%- endif %}
                )
        )
    {%- else -%}
        false
    {%- endif -%}
{%- endmacro %}

{# dbt's `unique`, which skips its scan where a unique index enforces it. #}
{% macro default__test_unique(model, column_name) %}

select
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
where
    {{ column_name }} is not null
    and not {{ enforced_unique(model, [column_name]) }}
group by {{ column_name }}
having count(*) > 1

{% endmacro %}
