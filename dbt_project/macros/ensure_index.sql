{#
    Post-hook: an index that dbt's `indexes` config cannot declare (a
    partial one, or one with INCLUDE columns), created on `relation` unless
    an index with the same definition is already there. The check is by
    definition, not by name, so that it holds across full refreshes (dbt
    builds the new table beside the old one, whose index names are taken)
    and incremental runs (the index is kept and maintained).
#}
{% macro ensure_index(relation, columns, include=[], where=none) -%}
    {{ return(adapter.dispatch('ensure_index')(
        relation, columns, include, where
    )) }}
{%- endmacro %}

{% macro default__ensure_index(relation, columns, include, where) -%}
    select 1
{%- endmacro %}

{% macro postgres__ensure_index(relation, columns, include, where) -%}
    {%- set definition -%}
        ({{ columns | join(', ') }})
        {%- if include %} include ({{ include | join(', ') }}){% endif %}
        {%- if where %} where {{ where }}{% endif %}
    {%- endset -%}
    {%- set table = relation.include(database=false) -%}
    do $ensure_index$
    begin
        if not exists (
            select
            from pg_catalog.pg_index as existing
            where
                existing.indrelid = to_regclass(
                    '{{ table | replace("'", "''") }}'
                )
                and lower(pg_catalog.pg_get_indexdef(existing.indexrelid))
                like '% using btree '
                || '{{ definition | lower | replace("'", "''") }}'
        ) then
            create index on {{ table }} {{ definition }};
        end if;
    end
    $ensure_index$
{%- endmacro %}
