{% macro to_utc(column, zone) -%}
    {{ return(adapter.dispatch('to_utc')(column, zone)) }}
{%- endmacro %}

{% macro default__to_utc(column, zone) -%}
    convert_timezone('{{ zone }}', 'UTC', {{ column }})
{%- endmacro %}

{#
    timezone(zone, naive) reads the wall-clock time in that zone, daylight
    saving included, and returns the instant as timestamptz.
#}
{% macro postgres__to_utc(column, zone) -%}
    timezone('{{ zone }}', {{ column }})
{%- endmacro %}
