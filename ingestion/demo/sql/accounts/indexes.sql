alter table users add constraint users_email_key unique (email);
create index users_updated_at_idx on users (updated_at);

alter table unified_accounts
    add constraint unified_accounts_user_id_key unique (user_id);
create index unified_accounts_updated_at_idx on unified_accounts (updated_at);
create index unified_accounts_pending_idx on unified_accounts (user_id)
    where status <> 'locked';
