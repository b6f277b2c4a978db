with

unified_accounts as (
    select * from {{ source('accounts', 'unified_accounts') }}
),

renamed as (
    select
        id as unified_account_id,
        user_id,
        status,
        -- flags
        migrated as is_migrated,
        activated_at is not null as is_activated,
        _ingestion_deleted_at is not null as is_deleted,
        -- timestamps
        invited_at,
        activated_at,
        created_at,
        updated_at,
        _ingestion_deleted_at as deletion_noticed_at
    from unified_accounts
)

select * from renamed
