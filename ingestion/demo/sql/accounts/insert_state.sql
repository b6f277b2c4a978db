insert into simulator.state (seed, scale, go_live_at, clock)
values (:seed, :scale, :go_live, :t1);
