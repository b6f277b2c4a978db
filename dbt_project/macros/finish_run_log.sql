{#
    Records how a dbt command ended in the run log (see start_run_log):
    success, or error when a node errored or a test failed. Run with dbt's
    results at the end of every command that runs hooks (on-run-end).
#}
{% macro finish_run_log(results) -%}
    {%- set failed = results
        | selectattr('status', 'in', ['error', 'fail', 'runtime error'])
        | list -%}
    {%- set skipped = results
        | selectattr('status', 'equalto', 'skipped')
        | list -%}
    update {{ run_log_relation() }}
    set
        finished_at = {{ dbt.current_timestamp() }},
        status = {{ dbt.string_literal('error' if failed else 'success') }},
        detail = {{ dbt.string_literal(
            results | length ~ ' nodes, ' ~ failed | length ~ ' failed, '
            ~ skipped | length ~ ' skipped'
        ) }}
    where invocation_id = {{ dbt.string_literal(invocation_id) }}
{%- endmacro %}
