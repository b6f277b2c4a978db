{#
    The run log: one row per dbt command that runs hooks (build, run, test,
    seed, snapshot), in the warehouse's ingestion schema (var run_log_schema)
    next to the sync log. dbt's run_results.json keeps only the last command.
    A command starts as running and finish_run_log records how it ended; a
    process killed cannot, so each command first marks what is still running
    as interrupted, as the ingestion's sync log does. Run first thing
    (on-run-start).
#}
{% macro start_run_log() -%}
    {{ return(adapter.dispatch('start_run_log')(run_log_relation())) }}
{%- endmacro %}

{% macro default__start_run_log(relation, timestamp_type=none) -%}
    {%- set timestamp_type = timestamp_type or dbt.type_timestamp() -%}
    create schema if not exists {{ adapter.quote(relation.schema) }};
    create table if not exists {{ relation }} (
        invocation_id {{ dbt.type_string() }} primary key,
        command {{ dbt.type_string() }} not null,
        started_at {{ timestamp_type }} not null,
        finished_at {{ timestamp_type }},
        status {{ dbt.type_string() }} not null,
        detail {{ dbt.type_string() }} not null
    );
    update {{ relation }}
    set
        status = 'interrupted',
        detail = {{ dbt.string_literal(
            'the command stopped before it finished (its process was killed'
            ~ ' or lost the warehouse); noticed by the next command'
        ) }}
    where status = 'running';
    insert into {{ relation }}
    (invocation_id, command, started_at, status, detail)
    values (
        {{ dbt.string_literal(invocation_id) }},
        {{ dbt.string_literal(flags.WHICH) }},
        {{ dbt.current_timestamp() }},
        'running',
        ''
    )
{%- endmacro %}

{% macro postgres__start_run_log(relation) -%}
    {#- The ingestion's lock on its schema (ingestion/synclog.py): two first
        commands at once would both create the table. dbt runs a hook outside
        a transaction, so its statements make one, which the lock lasts. -#}
    select pg_advisory_xact_lock(hashtext({{
        dbt.string_literal(relation.schema)
    }}));
    {{ default__start_run_log(relation, 'timestamptz') }}
{%- endmacro %}
