{#
    One row per UTC day or hour (`period_start`, timestamptz) from the period of
    the go-live instant (var go_live_at) up to the period holding `end_at`, an
    SQL expression such as a scalar subquery.
#}
{% macro launch_spine(datepart, end_at) -%}
    {{ return(adapter.dispatch('launch_spine')(datepart, end_at)) }}
{%- endmacro %}

{#
    Portable form: enough generated numbers for ten years of periods, cut at
    end_at.
#}
{% macro default__launch_spine(datepart, end_at) -%}
    {%- set periods = 3660 if datepart == 'day' else 87840 -%}
    {%- set start -%}
        {{ dbt.date_trunc(datepart, utc_timestamp(var('go_live_at'))) }}
    {%- endset -%}
    select
        {{ dbt.dateadd(datepart, 'series.generated_number - 1', start) }}
            as period_start
    from ({{ dbt.generate_series(periods) }}) as series
    where
        {{ dbt.dateadd(datepart, 'series.generated_number - 1', start) }}
        <= {{ end_at }}
{%- endmacro %}

{#
    The series runs over UTC wall-clock times: stepping a timestamptz by a day
    would follow the session's zone across daylight-saving changes.
#}
{% macro postgres__launch_spine(datepart, end_at) -%}
    select timezone('UTC', spine.utc_start) as period_start
    from generate_series(
        date_trunc(
            '{{ datepart }}',
            timezone('UTC', {{ utc_timestamp(var('go_live_at')) }})
        ),
        timezone('UTC', {{ end_at }}),
        interval '1 {{ datepart }}'
    ) as spine (utc_start)
{%- endmacro %}
