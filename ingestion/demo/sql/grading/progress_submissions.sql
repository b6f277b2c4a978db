-- Moves every open submission to its state at t1 and appends the status changes
-- of (t0, t1] to the changelog, in (changed_at, submission_id, step) order. A
-- submission's lifecycle follows from its id and created_at: 85 percent are
-- submitted 0.1-12 h after creation, then received 6-72 h later, in grading
-- 2-24 h later, graded 12-96 h later and shipped 2-48 h later; 3 percent of
-- the submitted ones are cancelled 1-48 h after submitting instead. Drafts
-- never submitted are cancelled (half) or abandoned and soft-deleted (half)
-- 24-72 h after creation.
with

open_submissions as (
    select
        id,
        created_at
    from submissions
    where status_code in (10, 20, 30, 40, 50) and deleted_at is null
),

draws as (
    select
        id,
        created_at,
        pg_temp.rnd(:seed, 231, id) < 0.85 as is_submitted,
        pg_temp.rnd(:seed, 232, id) < 0.03
            as is_cancelled_after_submitting,
        pg_temp.rnd(:seed, 233, id) < 0.5 as is_cancelled_as_draft,
        pg_temp.uniform_hours(:seed, 241, id, 0.1, 12) as submit_hours,
        pg_temp.uniform_hours(:seed, 242, id, 6, 72) as receive_hours,
        pg_temp.uniform_hours(:seed, 243, id, 2, 24) as grading_hours,
        pg_temp.uniform_hours(:seed, 244, id, 12, 96) as graded_hours,
        pg_temp.uniform_hours(:seed, 245, id, 2, 48) as ship_hours,
        pg_temp.uniform_hours(:seed, 246, id, 1, 48) as cancel_hours,
        pg_temp.uniform_hours(:seed, 247, id, 24, 72) as draft_end_hours
    from open_submissions
),

lifecycles as (
    select
        id,
        created_at,
        case when is_submitted then submit_hours end as submitted_after,
        case
            when is_submitted and not is_cancelled_after_submitting
                then submit_hours + receive_hours
        end as received_after,
        case
            when is_submitted and is_cancelled_after_submitting
                then submit_hours + cancel_hours
        end as cancelled_after_submitting_after,
        case
            when not is_submitted and is_cancelled_as_draft
                then draft_end_hours
        end as cancelled_as_draft_after,
        case
            when not is_submitted and not is_cancelled_as_draft
                then draft_end_hours
        end as deleted_after,
        grading_hours,
        graded_hours,
        ship_hours
    from draws
),

moments as (
    select
        id,
        created_at,
        pg_temp.after_hours(created_at, submitted_after) as submitted_at,
        pg_temp.after_hours(created_at, received_after) as received_at,
        pg_temp.after_hours(created_at, received_after + grading_hours)
            as grading_at,
        pg_temp.after_hours(
            created_at, received_after + grading_hours + graded_hours
        ) as graded_at,
        pg_temp.after_hours(
            created_at,
            received_after + grading_hours + graded_hours + ship_hours
        ) as shipped_at,
        pg_temp.after_hours(created_at, cancelled_after_submitting_after)
            as cancelled_after_submitting_at,
        pg_temp.after_hours(created_at, cancelled_as_draft_after)
            as cancelled_as_draft_at,
        pg_temp.after_hours(created_at, deleted_after) as deleted_at
    from lifecycles
),

transitions as (
    select
        moments.id as submission_id,
        steps.step,
        steps.from_status,
        steps.to_status,
        steps.changed_at
    from moments
    cross join lateral (
        values
            (
                0,
                cast(null as smallint),
                cast(10 as smallint),
                moments.created_at
            ),
            (1, 10, 20, moments.submitted_at),
            (1, 10, 90, moments.cancelled_as_draft_at),
            (2, 20, 30, moments.received_at),
            (2, 20, 90, moments.cancelled_after_submitting_at),
            (3, 30, 40, moments.grading_at),
            (4, 40, 50, moments.graded_at),
            (5, 50, 60, moments.shipped_at)
    ) as steps (step, from_status, to_status, changed_at)
    where steps.changed_at <= :t1
),

new_events as (
    insert into submission_status_events (
        id, submission_id, from_status, to_status, changed_at
    )
    select
        (select coalesce(max(id), 0) from submission_status_events)
        + row_number() over (order by changed_at, submission_id, step),
        submission_id,
        from_status,
        to_status,
        changed_at
    from transitions
    where changed_at > :t0
),

latest_transitions as (
    -- steps happen in order, so the highest step is the latest transition
    select
        submission_id,
        cast(mod(max(step * 100 + to_status), 100) as smallint) as to_status,
        max(changed_at) as changed_at
    from transitions
    group by submission_id
),

states as (
    select
        moments.id,
        latest_transitions.to_status as status_code,
        case
            when moments.submitted_at <= :t1
                then moments.submitted_at at time zone 'America/Los_Angeles'
        end as submitted_at,
        case
            when moments.deleted_at <= :t1 then moments.deleted_at
        end as deleted_at,
        greatest(
            latest_transitions.changed_at,
            case when moments.deleted_at <= :t1 then moments.deleted_at end
        ) as updated_at
    from moments
    inner join latest_transitions
        on moments.id = latest_transitions.submission_id
)

update submissions
set
    status_code = states.status_code,
    submitted_at = states.submitted_at,
    deleted_at = states.deleted_at,
    updated_at = states.updated_at
from states
where
    submissions.id = states.id
    and (
        submissions.status_code,
        submissions.submitted_at,
        submissions.deleted_at,
        submissions.updated_at
    ) is distinct from (
        states.status_code,
        states.submitted_at,
        states.deleted_at,
        states.updated_at
    );
