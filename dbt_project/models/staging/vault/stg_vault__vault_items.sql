with

vault_items as (
    select * from {{ source('vault', 'vault_items') }}
),

renamed as (
    select
        id as vault_item_id,
        user_id,
        submission_id,
        status,
        -- card, from JSON whose keys drifted
        cast({{ json_number('card', 'year') }} as integer) as card_year,
        coalesce(
            {{ json_text('card', 'set_name') }},
            {{ json_text('card', 'set') }}
        ) as card_set,
        {{ json_text('card', 'player') }} as card_player,
        {{ json_number('card', 'grade') }} as card_grade,
        coalesce({{ json_type('card', 'grade') }} = 'string', false)
            as is_grade_stored_as_text,
        declared_value_usd,
        -- flags
        _ingestion_deleted_at is not null as is_deleted,
        -- timestamps
        created_at,
        updated_at,
        _ingestion_deleted_at as deletion_noticed_at
    from vault_items
)

select * from renamed
