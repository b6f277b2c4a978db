with

collection_items as (
    select * from {{ source('collection', 'collection_items') }}
),

renamed as (
    select
        id as collection_item_id,
        user_id,
        source as origin,
        vault_item_id,
        title,
        -- flags
        _ingestion_deleted_at is not null as is_deleted,
        -- timestamps
        added_at,
        _ingestion_deleted_at as deletion_noticed_at
    from collection_items
)

select * from renamed
