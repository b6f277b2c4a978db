with

submission_statuses as (
    select * from {{ source('grading', 'submission_statuses') }}
),

renamed as (
    select
        code as status_code,
        name as status,
        is_terminal
    from submission_statuses
)

select * from renamed
