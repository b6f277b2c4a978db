update simulator.state
set clock = :t1;
