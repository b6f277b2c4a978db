{#
    A warning, not an error: the quarantined rows are withheld from the raw
    tables and everything else flows; fix them in production and the next
    sync loads them.
#}
{{ config(severity='warn') }}

with

quarantine as (
    select
        source,
        table_name,
        kind,
        reason
    from {{ source('ingestion', 'quarantine') }}
)

select * from quarantine
