{#
    One row per event a launch metric counts, before any exclusion: marts
    exclude internal users' events. Deleted rows (soft or hard) are left out
    here, as the metric definitions say. Events whose user matches no user
    are kept and flagged (has_known_user).
    Incremental: a run first deletes, then recomputes, the events of the
    users, unified accounts and submissions that staging wrote since this
    model last ran (`_built_at`): a user's change reaches all their events,
    whose flags it sets; a unified account's only the user's conversion.
    Vault and collection events (int_launch_item_events) are compared whole:
    those that changed or left are deleted, new ones added.
    Built whole, the users' flags come from one hash join; incrementally, the
    few thousand events look up their user by its key (macro
    left_join_by_key), rather than hash a million users for them.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=[
        "{{ sort_in_memory() }}",
        "{{ delete_changed_launch_events() }}",
    ],
    indexes=[
        {'columns': ['event_type', 'entity_id'], 'unique': true},
        {'columns': ['user_id']},
        {'columns': ['_built_at']},
    ],
    meta={'tests_scope_column': '_built_at'},
) }}

{#- Signups change only with their user (not with the unified account). #}
{%- set of_changed_users -%}
    {%- if is_incremental() -%}
        user_id in (select changed_users.user_id from changed_users)
    {%- else -%}
        true
    {%- endif -%}
{%- endset %}

with

{% if is_incremental() %}
    changed_users as (
        {{ keys_built_since_held('user_id', [ref('stg_accounts__users')]) }}
    ),

    changed_accounts as (
        {{ keys_built_since_held(
            'user_id', [ref('stg_accounts__unified_accounts')]
        ) }}
    ),
{% endif %}

users as (
    select
        user_id,
        legacy_system,
        is_internal,
        is_deleted,
        created_at
    from {{ ref('stg_accounts__users') }}
    {% if is_incremental() %}
        where
            user_id in (select changed_users.user_id from changed_users)
            or user_id in (
                select changed_accounts.user_id from changed_accounts
            )
    {% endif %}
),

unified_accounts as (
    select
        user_id,
        activated_at,
        is_deleted
    from {{ ref('stg_accounts__unified_accounts') }}
),

submissions as (
    select
        submission_id,
        user_id,
        card_count,
        created_at,
        is_deleted,
        _built_at
    from {{ ref('stg_grading__submissions') }}
),

item_events as (
    select
        launch_item_events.event_type,
        launch_item_events.entity_id,
        launch_item_events.user_id,
        launch_item_events.event_at,
        launch_item_events.cards
    from {{ ref('int_launch_item_events') }} as launch_item_events
    {% if is_incremental() %}
        where
            not exists (
                select
                from {{ this }} as held
                where
                    held.event_type in (
                        'vault_item_requested',
                        'vault_item_stored',
                        'collection_item_added'
                    )
                    and held.event_type = launch_item_events.event_type
                    and held.entity_id = launch_item_events.entity_id
                    and held.user_id = launch_item_events.user_id
                    and held.event_at = launch_item_events.event_at
                    and held.cards = launch_item_events.cards
            )
    {% endif %}
),

signups as (
    select
        'signup' as event_type,
        user_id as entity_id,
        user_id,
        created_at as event_at,
        0 as cards
    from users
    where
        legacy_system is null
        and created_at is not null
        and not is_deleted
        and {{ of_changed_users }}
),

legacy_conversions as (
    select
        'legacy_conversion' as event_type,
        users.user_id as entity_id,
        users.user_id,
        unified_accounts.activated_at as event_at,
        0 as cards
    from users
    inner join unified_accounts
        on users.user_id = unified_accounts.user_id
    where
        users.legacy_system is not null
        and unified_accounts.activated_at is not null
        and not users.is_deleted
        and not unified_accounts.is_deleted
),

submissions_created as (
    select
        'submission_created' as event_type,
        submission_id as entity_id,
        user_id,
        created_at as event_at,
        card_count as cards
    from submissions
    {% if is_incremental() %}
        where
            not is_deleted
            and (
                {{ built_since_held('_built_at') }}
                or user_id in (select changed_users.user_id from changed_users)
            )
    {% else %}
        where not is_deleted
    {% endif %}
),

events as (
    select * from signups
    union all
    select * from legacy_conversions
    union all
    select * from submissions_created
    union all
    select * from item_events
),

final as (
    select
        events.event_type,
        events.entity_id,
        events.user_id,
        events.event_at,
        events.cards,
        coalesce(user_flags.is_internal, false) as is_internal_user,
        user_flags.user_id is not null as has_known_user,
        {{ built_at() }} as _built_at
    from events
    {{ left_join_by_key(
        ref('stg_accounts__users'),
        alias='user_flags',
        key='user_id',
        outer='events',
        columns=['user_id', 'is_internal'],
        lookup=is_incremental(),
    ) }}
)

select * from final
