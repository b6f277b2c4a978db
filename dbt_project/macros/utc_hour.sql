{% macro utc_hour(column) -%}
    {{ return(adapter.dispatch('utc_hour')(column)) }}
{%- endmacro %}

{% macro default__utc_hour(column) -%}
    {{ dbt.date_trunc('hour', column) }}
{%- endmacro %}

{# Truncated in UTC, so that zones with half-hour offsets do not shift it. #}
{% macro postgres__utc_hour(column) -%}
    timezone('UTC', date_trunc('hour', timezone('UTC', {{ column }})))
{%- endmacro %}
