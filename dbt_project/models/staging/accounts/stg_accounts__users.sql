{#
    Incremental, as are the other staging models of million-row tables: a run
    merges the rows production changed (or the ingestion found deleted) since
    the latest change held, less the lookback var; unique indexes enforce the
    keys, and `_built_at` tells downstream models and tests what changed.
#}
{{ config(
    materialized='incremental',
    unique_key='user_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
        {'columns': ['user_id'], 'unique': true},
        {'columns': ['email_hash'], 'unique': true},
        {'columns': ['_built_at']},
        {'columns': ['updated_at']},
        {'columns': ['deletion_noticed_at']},
    ],
    meta={'tests_scope_column': '_built_at'},
    post_hook="{{ analyze_relation(this) }}",
) }}

with

users as (
    select * from {{ source('accounts', 'users') }}
    {% if is_incremental() %}
        where {{ source_rows_changed('updated_at') }}
    {% endif %}
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
        _ingestion_deleted_at as deletion_noticed_at,
        {{ built_at() }} as _built_at
    from users
)

select * from renamed
