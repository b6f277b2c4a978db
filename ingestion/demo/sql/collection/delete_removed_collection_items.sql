-- Removed items disappear from the table (hard delete), at most 100 h after
-- they were added.
delete from collection_items
where
    added_at > cast(:t0 as timestamptz) - interval '100 hours'
    and pg_temp.collection_removed_at(:seed, id, added_at) <= :t1;
