{#
    A folder's `+schema` is the schema's whole name (`staging`, `marts`), not a
    suffix of the target's schema: dashboards and the BI role's grants rely on
    the names `marts` and `staging` in every environment.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
