-- Cancelled requests disappear from the table (hard delete).
delete from vault_items
where
    status = 'requested'
    and pg_temp.vault_cancelled_at(:seed, id, created_at) <= :t1;
