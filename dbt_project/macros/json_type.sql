{% macro json_type(column, key) -%}
    {{ return(adapter.dispatch('json_type')(column, key)) }}
{%- endmacro %}

{% macro default__json_type(column, key) -%}
    {{ exceptions.raise_compiler_error(
        "json_type has no implementation for " ~ target.type
    ) }}
{%- endmacro %}

{# 'number', 'string', 'null' and so on; null when the key is missing. #}
{% macro postgres__json_type(column, key) -%}
    jsonb_typeof({{ column }} -> '{{ key }}')
{%- endmacro %}
