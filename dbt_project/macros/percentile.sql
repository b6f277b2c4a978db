{# The continuous percentile (0 to 1) of a column within each group. #}
{% macro percentile(column, fraction) -%}
    {{ return(adapter.dispatch('percentile')(column, fraction)) }}
{%- endmacro %}

{% macro default__percentile(column, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ column }})
{%- endmacro %}

{% macro postgres__percentile(column, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ column }})
{%- endmacro %}
