{% macro json_type(column, key=none) -%}
    {{ return(adapter.dispatch('json_type')(column, key)) }}
{%- endmacro %}

{% macro default__json_type(column, key=none) -%}
    {{ exceptions.raise_compiler_error(
        "json_type has no implementation for " ~ target.type
    ) }}
{%- endmacro %}

{#
    'object', 'array', 'number', 'string', 'null' and so on: of the key's
    value (null when the key is missing), or of the whole value without a key.
#}
{% macro postgres__json_type(column, key=none) -%}
    {%- if key is none -%}
        jsonb_typeof({{ column }})
    {%- else -%}
        jsonb_typeof({{ column }} -> '{{ key }}')
    {%- endif -%}
{%- endmacro %}
