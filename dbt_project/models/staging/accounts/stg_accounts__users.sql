with

users as (
    select * from {{ source('accounts', 'users') }}
),

renamed as (
    select
        id as user_id,
        email as email_hash,
        email_domain,
        legacy_system,
        legacy_system is not null as is_legacy,
        -- flags
        is_internal as is_staff,
        email_domain = '{{ var("test_email_domain") }}' as is_test_account,
        is_internal
        or email_domain = '{{ var("test_email_domain") }}' as is_internal,
        {{ is_dummy_date('created_at') }} as has_dummy_created_at,
        _ingestion_deleted_at is not null as is_deleted,
        -- timestamps
        case
            when not {{ is_dummy_date('created_at') }} then created_at
        end as created_at,
        updated_at,
        _ingestion_deleted_at as deletion_noticed_at
    from users
)

select * from renamed
