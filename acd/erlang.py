"""Erlang C: the queueing model of a call center (M/M/N), for staffing and checks.

``traffic_erlangs`` = arrival rate x average handle time. With N agents the
probability that a caller waits is Erlang C; the service level (share answered within
T seconds) and the average speed of answer follow from it.
"""

from __future__ import annotations

import math


def erlang_c(agents: int, traffic_erlangs: float) -> float:
    """Probability that an arriving call has to wait (1.0 when the center is overloaded)."""
    if agents <= 0 or traffic_erlangs >= agents:
        return 1.0
    if traffic_erlangs <= 0:
        return 0.0
    # Erlang B by its stable recurrence, then C from B.
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic_erlangs * b / (k + traffic_erlangs * b)
    rho = traffic_erlangs / agents
    return b / (1 - rho + rho * b)


def service_level(agents: int, arrival_rate: float, handle_time_s: float, target_s: float) -> float:
    """Share of calls answered within ``target_s``."""
    if handle_time_s <= 0:  # calls that take no time never wait
        return 1.0
    a = arrival_rate * handle_time_s
    if agents <= a:
        return 0.0
    pw = erlang_c(agents, a)
    return 1.0 - pw * math.exp(-(agents - a) * target_s / handle_time_s)


def average_speed_of_answer(agents: int, arrival_rate: float, handle_time_s: float) -> float:
    """Mean wait over all calls (answered at once counts as 0), in seconds."""
    a = arrival_rate * handle_time_s
    if agents <= a:
        return math.inf
    return erlang_c(agents, a) * handle_time_s / (agents - a)


def agents_needed(
    arrival_rate: float, handle_time_s: float, target_s: float, target_level: float,
    max_agents: int = 10_000,
) -> int:
    """The fewest agents that meet the service-level target (e.g. 80 % in 20 s)."""
    a = arrival_rate * handle_time_s
    n = max(1, math.floor(a) + 1)
    while n <= max_agents:
        if service_level(n, arrival_rate, handle_time_s, target_s) >= target_level:
            return n
        n += 1
    return max_agents
