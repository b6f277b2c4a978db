{#
    dbt's Postgres default stamps snapshot rows with now() cast to a timestamp
    without time zone, read in the session's zone; the sources' timestamps are
    timestamptz. Keeping the zone makes both comparable whatever the session's
    TimeZone is.
#}
{% macro postgres__snapshot_get_time() -%}
    now()
{%- endmacro %}
