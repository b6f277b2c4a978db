{#
    Drops every snapshot table: `make demo` starts the simulated launch over,
    and a history recorded from the previous run would contradict the new one.
    Never run it on a real warehouse: snapshots are the only record of what
    production does not keep.
#}
{% macro drop_snapshots() -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'snapshot' -%}
        {%- set relation = adapter.get_relation(
            database=node.database,
            schema=node.schema,
            identifier=node.alias
        ) -%}
        {%- if relation is not none -%}
            {%- do adapter.drop_relation(relation) -%}
            {%- do log('dropped ' ~ relation, info=true) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}
