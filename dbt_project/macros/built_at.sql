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
    {{ built_at_column }} > {{ held_built_at() }}
{%- endmacro %}

{# The latest `_built_at` this model holds, as a literal (see built_since_held). #}
{% macro held_built_at() -%}
    {%- set held = none -%}
    {%- if execute and '_built_at' in (
        adapter.get_columns_in_relation(this) | map(attribute='name') | list
    ) -%}
        {%- set held = run_query(
            'select max(_built_at) from ' ~ this
        ).columns[0].values()[0] -%}
    {%- endif -%}
    {{ dbt.cast(
        "'" ~ (held.isoformat() if held else '-infinity') ~ "'",
        api.Column.translate_type('timestamp with time zone')
    ) }}
{%- endmacro %}

{#
    In an incremental run, the `key` values of the rows that any of the
    upstream `relations` wrote after this model last ran: a query, for a CTE
    or an `in (...)` list.
#}
{% macro keys_built_since_held(key, relations) -%}
    {%- set held = held_built_at() -%}
    {%- for relation in relations %}
        select {{ key }}
        from {{ relation }}
        where _built_at > {{ held }}
        {%- if not loop.last %}
            union
        {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#
    In an incremental staging model, the condition keeping the source rows
    that changed in production (`cursor`, held under the same name) or that
    the ingestion found deleted since the latest of each this model holds.
    The model indexes both columns, so that finding those latest values
    reads one index entry each rather than the whole model.
#}
{% macro source_rows_changed(cursor) -%}
    {{ changed_since_held(cursor, cursor) }}
    or {{ changed_since_held('_ingestion_deleted_at', 'deletion_noticed_at') }}
{%- endmacro %}
