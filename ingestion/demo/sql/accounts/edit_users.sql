-- Profile edits in (t0, t1]: the display name gets the full last name.
update users
set
    display_name = pg_temp.display_name(:seed, id, true),
    updated_at = pg_temp.user_edited_at(
        :seed, :go_live, id, legacy_system, created_at
    )
where
    pg_temp.user_edited_at(:seed, :go_live, id, legacy_system, created_at)
    > :t0
    and pg_temp.user_edited_at(:seed, :go_live, id, legacy_system, created_at)
    <= :t1;
