{% macro json_text(column, key) -%}
    {{ return(adapter.dispatch('json_text')(column, key)) }}
{%- endmacro %}

{% macro default__json_text(column, key) -%}
    json_extract_path_text({{ column }}, '{{ key }}')
{%- endmacro %}

{# A key that is missing gives null; a JSON null too. #}
{% macro postgres__json_text(column, key) -%}
    ({{ column }} ->> '{{ key }}')
{%- endmacro %}
