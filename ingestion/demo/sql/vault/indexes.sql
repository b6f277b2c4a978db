create index vault_items_user_id_idx on vault_items (user_id);
create index vault_items_submission_id_idx on vault_items (submission_id);
create index vault_items_updated_at_idx on vault_items (updated_at);
create index vault_items_open_idx on vault_items (created_at)
    where status in ('requested', 'in_transit', 'received');
