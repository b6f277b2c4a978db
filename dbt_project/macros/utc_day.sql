{% macro utc_day(column) -%}
    {{ return(adapter.dispatch('utc_day')(column)) }}
{%- endmacro %}

{% macro default__utc_day(column) -%}
    cast(convert_timezone('UTC', {{ column }}) as date)
{%- endmacro %}

{# A bare cast to date would follow the session's time zone. #}
{% macro postgres__utc_day(column) -%}
    cast(timezone('UTC', {{ column }}) as date)
{%- endmacro %}
