create index collection_items_user_id_idx on collection_items (user_id);
create index collection_items_vault_item_id_idx
    on collection_items (vault_item_id);
create index collection_items_added_at_idx on collection_items (added_at);
