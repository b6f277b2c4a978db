select setval(pg_get_serial_sequence('submission_status_events', 'id'), last_id)
from (select max(id) as last_id from submission_status_events) as events
where last_id is not null;
