{#
    Creates the BI role (env BI_ROLE) without login when it does not exist, so
    that the marts' grants have a grantee. Creating it needs CREATEROLE; a
    warehouse where the dbt user lacks it needs the role made by an admin
    (`ingestion local setup` makes it on the embedded server). Run before
    every dbt run, build or seed (on-run-start).
#}
{% macro ensure_bi_role() -%}
    {{ return(adapter.dispatch('ensure_bi_role')(env_var('BI_ROLE', 'bi_reader'))) }}
{%- endmacro %}

{% macro default__ensure_bi_role(role) -%}
    select 1
{%- endmacro %}

{% macro postgres__ensure_bi_role(role) -%}
    {%- if execute -%}
        {%- set found = run_query(
            "select 1 from pg_roles where rolname = '"
            ~ role | replace("'", "''") ~ "'"
        ) -%}
        {%- if found | length == 0 -%}
            create role {{ adapter.quote(role) }} nologin
        {%- else -%}
            select 1
        {%- endif -%}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
