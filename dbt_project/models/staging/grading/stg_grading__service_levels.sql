with

service_levels as (
    select * from {{ source('grading', 'service_levels') }}
),

renamed as (
    select
        id as service_level_id,
        code as service_level_code,
        name as service_level,
        turnaround_days,
        price_usd
    from service_levels
)

select * from renamed
