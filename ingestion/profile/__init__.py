"""Source profiling: what production tables hold, before anyone models them.

`profiler.run` reads every chosen table of the sources through read-only, time-limited
sessions (sampled where large) and returns a `records.Profile`; the other modules turn
it into findings, a Markdown and an HTML report, JSON, a dbt sources proposal and an
entity-relationship diagram.
"""
