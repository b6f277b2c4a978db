{#
    `left join <relation> as <alias>` on `<alias>.<key> = <outer>.<key>`,
    reading `columns` of relation (the key among them). With `lookup=true`
    each outer row looks its match up by key (on Postgres a lateral limit-1
    subquery, which the planner cannot turn into a hash of the whole
    relation): for a few thousand rows against a million, an index probe
    each instead of a hash of every row.
#}
{% macro left_join_by_key(relation, alias, key, outer, columns, lookup=false) -%}
    {{ return(adapter.dispatch('left_join_by_key')(
        relation, alias, key, outer, columns, lookup
    )) }}
{%- endmacro %}

{% macro default__left_join_by_key(relation, alias, key, outer, columns, lookup) -%}
    left join {{ relation }} as {{ alias }}
        on {{ outer }}.{{ key }} = {{ alias }}.{{ key }}
{%- endmacro %}

{% macro postgres__left_join_by_key(
    relation, alias, key, outer, columns, lookup
) -%}
    {%- if lookup -%}
        left join lateral (
            select
                {%- for column in columns %}
                    by_key.{{ column }}{{ ',' if not loop.last }}
                {%- endfor %}
            from {{ relation }} as by_key
            where by_key.{{ key }} = {{ outer }}.{{ key }}
            order by 1
            limit 1
        ) as {{ alias }} on true
    {%- else -%}
        {{ default__left_join_by_key(relation, alias, key, outer, columns, lookup) }}
    {%- endif -%}
{%- endmacro %}
