alter table submissions
    add constraint submissions_service_level_id_fkey
        foreign key (service_level_id) references service_levels (id),
    add constraint submissions_status_code_fkey
        foreign key (status_code) references submission_statuses (code);
create index submissions_user_id_idx on submissions (user_id);
create index submissions_service_level_id_idx
    on submissions (service_level_id);
create index submissions_status_code_idx on submissions (status_code);
create index submissions_updated_at_idx on submissions (updated_at);
create index submissions_open_idx on submissions (created_at)
    where status_code in (10, 20, 30, 40, 50) and deleted_at is null;

alter table submission_status_events
    add constraint submission_status_events_submission_id_fkey
        foreign key (submission_id) references submissions (id);
create index submission_status_events_submission_id_idx
    on submission_status_events (submission_id);
create index submission_status_events_changed_at_idx
    on submission_status_events (changed_at);
