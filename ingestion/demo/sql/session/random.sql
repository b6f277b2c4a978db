-- Random numbers for one simulator session. Like every simulator helper they
-- live in pg_temp, so they vanish with the session and nothing but the
-- production tables stays in the databases. A random number is a hash of
-- (seed, stream, id): the same inputs give the same value in any session,
-- which is what makes the databases independent of how the clock is stepped.

create function pg_temp.rnd(seed bigint, stream integer, entity_id bigint)
returns double precision
language sql immutable parallel safe
as $$
    select
        cast(
            hashint8extended(entity_id, seed * 1000 + stream) & 2147483647
            as double precision
        ) / 2147483648.0
$$;

create function pg_temp.uniform_hours(
    seed bigint,
    stream integer,
    entity_id bigint,
    low double precision,
    high double precision
)
returns double precision
language sql immutable parallel safe
as $$
    select low + (high - low) * pg_temp.rnd(seed, stream, entity_id)
$$;

create function pg_temp.after_hours(
    start_at timestamptz, hours double precision
)
returns timestamptz
language sql stable parallel safe
as $$
    select start_at + hours * interval '1 hour'
$$;

create function pg_temp.pick(items text[], u double precision)
returns text
language sql immutable parallel safe
as $$
    select items[1 + cast(floor(u * cardinality(items)) as integer)]
$$;
