select
    seed,
    scale,
    go_live_at,
    clock
from simulator.state
for update;
