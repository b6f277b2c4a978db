analyze submissions, submission_status_events;
