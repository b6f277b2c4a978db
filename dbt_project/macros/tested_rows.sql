{#
    Tests that read only the rows written since they last passed.

    A model whose `meta` names a `tests_scope_column` (a timestamp that the
    model sets to `run_started_at` on every row it writes) has its tests read
    only the rows written after the start of the last run in which that same
    test passed. Every row has then been checked once, exactly as a scan of
    the whole relation would check it: a failing or warning test records no
    pass, so the next run checks its rows again; a new or changed test (its
    id changes with its arguments) checks every row; a full refresh rewrites,
    and so re-checks, every row; `--vars '{test_all_rows: true}'` checks
    every row of every model. Uniqueness tests always read the whole
    relation (a new row can collide with an old one), and skip the scan where
    a unique index enforces them (macro `enforced_unique`).
    The passes are kept in `dbt_meta.passed_tests`, which no BI role reads.
#}

{% macro test_ledger() -%}
    {{ return(api.Relation.create(
        database=target.database,
        schema='dbt_meta',
        identifier='passed_tests'
    )) }}
{%- endmacro %}

{# on-run-start: the ledger of passed tests exists. #}
{% macro ensure_test_ledger() -%}
    {{ return(adapter.dispatch('ensure_test_ledger')(test_ledger())) }}
{%- endmacro %}

{% macro default__ensure_test_ledger(ledger) -%}
    create schema if not exists {{ ledger.schema }};
    create table if not exists {{ ledger }} (
        test_id text primary key,
        passed_through timestamp with time zone not null
    )
{%- endmacro %}

{# on-run-end: the tests that passed in this run checked every row so far. #}
{% macro record_passed_tests(results) -%}
    {%- set passed = [] -%}
    {%- for result in results
        if result.node.resource_type == 'test' and result.status == 'pass' -%}
        {%- do passed.append(result.node.unique_id) -%}
    {%- endfor -%}
    {%- if passed -%}
        {{ return(adapter.dispatch('record_passed_tests')(
            test_ledger(), passed
        )) }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{% macro default__record_passed_tests(ledger, test_ids) -%}
    insert into {{ ledger }} (test_id, passed_through)
    values
    {%- for test_id in test_ids %}
        (
            '{{ test_id | replace("'", "''") }}',
            {{ dbt.cast(
                "'" ~ run_started_at.isoformat() ~ "'",
                api.Column.translate_type('timestamp with time zone')
            ) }}
        ){{ ',' if not loop.last }}
    {%- endfor %}
    on conflict (test_id) do update
        set passed_through = excluded.passed_through
{%- endmacro %}

{#
    The rows a test reads: dbt's `where` config, and for a scoped model only
    the rows written since this test last passed.
#}
{% macro default__get_where_subquery(relation) -%}
    {%- set filters = [] -%}
    {%- if config.get('where') -%}
        {%- do filters.append('(' ~ config.get('where') ~ ')') -%}
    {%- endif -%}
    {%- set scope = rows_since_test_passed() -%}
    {%- if scope -%}
        {%- do filters.append(scope) -%}
    {%- endif -%}
    {%- if filters -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ filters | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}

{% macro rows_since_test_passed() -%}
    {%- if not execute
        or var('test_all_rows', false)
        or flags.FULL_REFRESH
        or model.resource_type != 'test'
        or not model.attached_node
        or (model.test_metadata.name | default(''))
            in ['unique', 'unique_combination_of_columns'] -%}
        {{ return('') }}
    {%- endif -%}
    {%- set tested = graph.nodes.get(model.attached_node) -%}
    {%- set column = tested.config.meta.get('tests_scope_column')
        if tested else none -%}
    {%- if not column -%}
        {{ return('') }}
    {%- endif -%}
    {%- set since -%}
        (
            select max(passed_through)
            from {{ test_ledger() }}
            where test_id = '{{ model.unique_id | replace("'", "''") }}'
        )
    {%- endset -%}
    {{ return(column ~ ' > coalesce(' ~ since ~ ", "
        ~ dbt.cast("'-infinity'", api.Column.translate_type(
            'timestamp with time zone'
        )) ~ ')') }}
{%- endmacro %}
