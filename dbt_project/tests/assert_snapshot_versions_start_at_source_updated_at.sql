{#
    The vault snapshot's versions begin at production's updated_at, in the
    same zone: a snapshot stamped in another zone would shift every interval
    by the zone's offset.
#}
with

vault_item_versions as (
    select
        id,
        updated_at,
        dbt_valid_from,
        dbt_updated_at,
        dbt_is_deleted
    from {{ ref('snap_vault__vault_items') }}
),

shifted as (
    select
        id,
        updated_at,
        dbt_valid_from,
        dbt_updated_at
    from vault_item_versions
    where
        coalesce(dbt_is_deleted, 'False') != 'True'
        and (
            dbt_valid_from != updated_at
            or dbt_updated_at != updated_at
        )
)

select * from shifted
