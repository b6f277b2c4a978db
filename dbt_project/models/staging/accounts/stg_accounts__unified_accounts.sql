{# Incremental, like stg_accounts__users (see there why). #}
{{ config(
    materialized='incremental',
    unique_key='unified_account_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
        {'columns': ['unified_account_id'], 'unique': true},
        {'columns': ['user_id'], 'unique': true},
        {'columns': ['_built_at']},
        {'columns': ['updated_at']},
        {'columns': ['deletion_noticed_at']},
    ],
    meta={'tests_scope_column': '_built_at'},
    post_hook="{{ analyze_relation(this) }}",
) }}

with

unified_accounts as (
    select * from {{ source('accounts', 'unified_accounts') }}
    {% if is_incremental() %}
        where {{ source_rows_changed('updated_at') }}
    {% endif %}
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
        _ingestion_deleted_at as deletion_noticed_at,
        {{ built_at() }} as _built_at
    from unified_accounts
)

select * from renamed
