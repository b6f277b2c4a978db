{#
    Pre-hook of the models that sort or count distinct over million-row
    relations: lets this model's transaction sort in memory (var
    `sort_memory`, e.g. 256MB) instead of spilling to disk.
#}
{% macro sort_in_memory() -%}
    {{ return(adapter.dispatch('sort_in_memory')(var('sort_memory'))) }}
{%- endmacro %}

{% macro default__sort_in_memory(size) -%}
    select 1
{%- endmacro %}

{% macro postgres__sort_in_memory(size) -%}
    set local work_mem = '{{ size }}'
{%- endmacro %}
