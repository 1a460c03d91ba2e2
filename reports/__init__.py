"""R13: the record of what happened and the reports made from it (pure: no I/O, no
clock; time comes in).

- ``reports.records``: the record of each call and of each agent's state spans, built
  once from the core's notices as they happen (``RecordBuilder``);
- ``reports.intervals``: 15-minute buckets of sums per queue, kind and agent, and
  reports per 15 minutes, hour, day, week or month in the site's time zone, filtered by
  day of week and time of day. The figures are ``acd.metrics.rates`` of
  ``acd.metrics.Sums``: the same definitions as the live windows.
"""
