{% macro utc_timestamp(literal) -%}
    {{ return(adapter.dispatch('utc_timestamp')(literal)) }}
{%- endmacro %}

{% macro default__utc_timestamp(literal) -%}
    cast('{{ literal }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro postgres__utc_timestamp(literal) -%}
    cast('{{ literal }}' as timestamp with time zone)
{%- endmacro %}
