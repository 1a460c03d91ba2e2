"""The soak (issue 33): traffic on the Asterisk sandbox for a while, under a fault
schedule drawn from a seed, then invariants checked from sources other than the engine
(SIPp's traces and statistics, Asterisk's ARI events, the recording archive's files,
the store's database). ``python -m bench.soak --seed S --minutes M``; ``make soak``.

Modules: ``schedule`` (the faults, from the seed), ``cluster`` (Redis with Sentinel, two
engines through fault proxies, restarts), ``traffic`` (SIPp agents and callers,
dispositions through the API), ``faults`` (the schedule carried out, recovery timed),
``invariants`` (the checks), ``run`` (one run, its report)."""
