{#
    When this dbt run started, as a timestamptz literal: incremental models
    stamp every row they write with it (column `_built_at`), which tells
    their downstream models which rows changed and their tests which rows to
    read (macro `rows_since_test_passed`).
#}
{% macro built_at() -%}
    {{ dbt.cast(
        "'" ~ run_started_at.isoformat() ~ "'",
        api.Column.translate_type('timestamp with time zone')
    ) }}
{%- endmacro %}

{#
    In an incremental run, a condition keeping the source rows whose
    `changed_at` is no older than the latest `held_changed_at` already in this
    model, less the `history_lookback_hours` var, for changes production
    commits late. Compare times of one clock only: production's `updated_at`
    with itself, the ingestion's `_ingestion_deleted_at` with itself.
#}
{% macro changed_since_held(changed_at, held_changed_at) -%}
    {{ changed_at }} >= (
        select
            coalesce(
                {{ dbt.dateadd(
                    'hour',
                    -var('history_lookback_hours'),
                    'max(' ~ held_changed_at ~ ')'
                ) }},
                {{ dbt.cast(
                    "'-infinity'",
                    api.Column.translate_type('timestamp with time zone')
                ) }}
            )
        from {{ this }}
    )
{%- endmacro %}

{#
    In an incremental run, a condition keeping the rows of an upstream model
    that it wrote after this model last ran (both stamp `_built_at`). The
    time is read first and written as a literal, so that the planner sees
    how few rows qualify and reads them through the `_built_at` index. A
    model built before it had `_built_at` takes every row (and its
    `on_schema_change='fail'` then asks for a full refresh).
#}
{% macro built_since_held(built_at_column) -%}
    {%- set held = none -%}
    {%- if execute and '_built_at' in (
        adapter.get_columns_in_relation(this) | map(attribute='name') | list
    ) -%}
        {%- set held = run_query(
            'select max(_built_at) from ' ~ this
        ).columns[0].values()[0] -%}
    {%- endif -%}
    {{ built_at_column }} > {{ dbt.cast(
        "'" ~ (held.isoformat() if held else '-infinity') ~ "'",
        api.Column.translate_type('timestamp with time zone')
    ) }}
{%- endmacro %}

{#
    Post-hook of the models that incremental runs read by `_built_at`: fresh
    statistics after the model was built whole (no row older than this run;
    always, with `only_built_whole=false`),
    without which the planner takes a handful of changed rows for a third of
    the table. Runs that add a few rows leave it to autovacuum: the planner
    finds the newest `_built_at` in its index.
#}
{% macro analyze_relation(relation, only_built_whole=true) -%}
    {{ return(adapter.dispatch('analyze_relation')(relation, only_built_whole)) }}
{%- endmacro %}

{% macro default__analyze_relation(relation, only_built_whole) -%}
    select 1
{%- endmacro %}

{% macro postgres__analyze_relation(relation, only_built_whole) -%}
    {%- if only_built_whole -%}
        do $analyze$
        begin
            if not exists (
                select from {{ relation }} where _built_at < {{ built_at() }}
            ) then
                analyze {{ relation }};
            end if;
        end
        $analyze$
    {%- else -%}
        analyze {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#
    Pre-hook of the models that sort or count distinct over million-row
    relations: lets this model's transaction sort in memory (var
    `sort_memory`, e.g. 256MB) instead of spilling to disk.
#}
{% macro sort_in_memory() -%}
    {{ return(adapter.dispatch('sort_in_memory')(var('sort_memory'))) }}
{%- endmacro %}

{% macro default__sort_in_memory(size) -%}
    select 1
{%- endmacro %}

{% macro postgres__sort_in_memory(size) -%}
    set local work_mem = '{{ size }}'
{%- endmacro %}
