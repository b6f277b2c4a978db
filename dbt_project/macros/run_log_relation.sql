{#
    Where the run log lives (see start_run_log): table dbt_runs in schema var
    run_log_schema of the target's database.
#}
{% macro run_log_relation() -%}
    {{ return(api.Relation.create(
        database=target.database,
        schema=var('run_log_schema'),
        identifier='dbt_runs'
    )) }}
{%- endmacro %}
