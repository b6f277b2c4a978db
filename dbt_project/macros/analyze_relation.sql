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
