-- New submissions start as drafts. Card counts are skewed small (1-50); service
-- levels are mostly economy and regular.
with

arrivals as (
    select
        id,
        arrived_at,
        users_before
    from pg_temp.arrivals(:seed, 2, :t0, :t1)
),

drawn as (
    select
        id,
        arrived_at,
        users_before,
        1 + cast(floor(49 * power(pg_temp.rnd(:seed, 221, id), 3)) as integer)
            as card_count,
        pg_temp.rnd(:seed, 222, id) as u_value,
        pg_temp.rnd(:seed, 223, id) as u_level
    from arrivals
),

inserted as (
    insert into submissions (
        id,
        user_id,
        service_level_id,
        status_code,
        card_count,
        declared_value_usd,
        submitted_at,
        created_at,
        updated_at,
        deleted_at
    )
    select
        id,
        pg_temp.submission_user(:seed, id, users_before),
        case
            when u_level < 0.35 then 1
            when u_level < 0.70 then 2
            when u_level < 0.88 then 3
            when u_level < 0.97 then 4
            else 5
        end,
        10,
        card_count,
        round(cast(card_count * exp(1.5 + 4 * u_value) as numeric), 2),
        null,
        arrived_at,
        arrived_at,
        null
    from drawn
)

select setval(pg_get_serial_sequence('submissions', 'id'), max(id))
from arrivals
having count(*) > 0;
