{#
    Pre-hook of int_launch_events: in an incremental run, delete the events
    that the run recomputes (see the model), so that an event whose row was
    deleted, or no longer counts, leaves with it.
#}
{% macro delete_changed_launch_events() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as held
        where
            (
                held.event_type in (
                    'vault_item_requested',
                    'vault_item_stored',
                    'collection_item_added'
                )
                and not exists (
                    select
                    from {{ ref('int_launch_item_events') }} as item_events
                    where
                        item_events.event_type = held.event_type
                        and item_events.entity_id = held.entity_id
                        and item_events.user_id = held.user_id
                        and item_events.event_at = held.event_at
                        and item_events.cards = held.cards
                )
            )
            or held.user_id in (
                {{ keys_built_since_held(
                    'user_id', [ref('stg_accounts__users')]
                ) }}
            )
            or (
                held.event_type = 'legacy_conversion'
                and held.user_id in (
                    {{ keys_built_since_held(
                        'user_id', [ref('stg_accounts__unified_accounts')]
                    ) }}
                )
            )
            or (
                held.event_type = 'submission_created'
                and held.entity_id in (
                    {{ keys_built_since_held(
                        'submission_id', [ref('stg_grading__submissions')]
                    ) }}
                )
            )
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
