{# The UTC day (a date) or UTC hour (a timestamptz) holding a timestamp. #}
{% macro utc_period(datepart, column) -%}
    {%- if datepart == 'day' -%}
        {{ utc_day(column) }}
    {%- elif datepart == 'hour' -%}
        {{ utc_hour(column) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "utc_period: datepart must be day or hour, not " ~ datepart
        ) }}
    {%- endif -%}
{%- endmacro %}
