{#
    The BI role (env BI_ROLE) reads the marts schema and nothing else: the
    marts' own grants give it their tables, this gives it the schema once it
    exists. Run at the end of every dbt command that runs hooks (on-run-end).
#}
{% macro grant_bi_role() -%}
    {%- if execute -%}
        {%- set schemas = [] -%}
        {%- for node in graph.nodes.values()
            if node.resource_type == 'model'
            and node.fqn[1] == 'marts'
            and adapter.check_schema_exists(node.database, node.schema) -%}
            {%- do schemas.append(node.schema) -%}
        {%- endfor -%}
        {%- for schema in schemas | unique -%}
            {{ adapter.dispatch('grant_schema_usage')(
                schema, env_var('BI_ROLE', 'bi_reader')
            ) }};
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{% macro default__grant_schema_usage(schema, role) -%}
    grant usage on schema {{ adapter.quote(schema) }} to {{ adapter.quote(role) }}
{%- endmacro %}
