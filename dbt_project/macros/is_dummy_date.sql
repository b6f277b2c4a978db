{# True when the timestamp is the placeholder date (var dummy_date) in UTC. #}
{% macro is_dummy_date(column) -%}
    coalesce(
        {{ utc_day(column) }} = cast('{{ var("dummy_date") }}' as date),
        false
    )
{%- endmacro %}
