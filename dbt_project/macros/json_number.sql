{% macro json_number(column, key) -%}
    {{ return(adapter.dispatch('json_number')(column, key)) }}
{%- endmacro %}

{% macro default__json_number(column, key) -%}
    {{ dbt.safe_cast(json_text(column, key), dbt.type_numeric()) }}
{%- endmacro %}

{#
    A number stored as a JSON number or as a string holding a number becomes a
    numeric; a missing key or any other text becomes null instead of an error.
#}
{% macro postgres__json_number(column, key) -%}
    case
        when jsonb_typeof({{ column }} -> '{{ key }}') = 'number'
            then cast({{ column }} ->> '{{ key }}' as numeric)
        when
            jsonb_typeof({{ column }} -> '{{ key }}') = 'string'
            and btrim({{ column }} ->> '{{ key }}')
            ~ '^[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)$'
            then cast(btrim({{ column }} ->> '{{ key }}') as numeric)
    end
{%- endmacro %}
