-- The simulator's own record: its seed, scale, go-live and clock, kept out of
-- the production schema. Nothing else about the simulation is stored.
create schema simulator;

create table simulator.state (
    is_singleton boolean primary key default true check (is_singleton),
    seed bigint not null,
    scale bigint not null,
    go_live_at timestamptz not null,
    clock timestamptz not null
);
