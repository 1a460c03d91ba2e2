"""Erlang C against published values (hand-checkable)."""

from __future__ import annotations

import math

import pytest

from acd.erlang import agents_needed, average_speed_of_answer, erlang_c, service_level


def direct_erlang_c(n: int, a: float) -> float:
    """The textbook formula, summed term by term."""
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize(("n", "a"), [(26, 24.0), (10, 8.5), (3, 1.2), (50, 45.0)])
def test_erlang_c_matches_the_direct_formula(n: int, a: float) -> None:
    assert erlang_c(n, a) == pytest.approx(direct_erlang_c(n, a), rel=1e-9)


def test_two_servers_closed_form() -> None:
    # M/M/2: P(wait) = 2 rho^2 / (1 + rho), rho = a / 2
    for a in (0.4, 1.0, 1.6):
        rho = a / 2
        assert erlang_c(2, a) == pytest.approx(2 * rho**2 / (1 + rho))


def test_service_level_and_staffing_are_consistent() -> None:
    rate, aht = 360 / 3600, 240.0  # 24 Erlangs
    n = agents_needed(rate, aht, 20, 0.80)
    assert service_level(n, rate, aht, 20) >= 0.80 > service_level(n - 1, rate, aht, 20)
    pw = erlang_c(26, 24.0)
    assert service_level(26, rate, aht, 20) == pytest.approx(1 - pw * math.exp(-2 * 20 / 240))
    assert average_speed_of_answer(26, rate, aht) == pytest.approx(pw * 240 / 2)


def test_single_server_is_mm1() -> None:
    # M/M/1: P(wait) = rho, ASA = rho/(mu - lambda)
    assert erlang_c(1, 0.5) == pytest.approx(0.5)
    assert average_speed_of_answer(1, 0.5, 1.0) == pytest.approx(1.0)


def test_overload_and_edges() -> None:
    assert erlang_c(5, 5.0) == 1.0
    assert average_speed_of_answer(5, 1.0, 5.0) == math.inf
    assert erlang_c(3, 0.0) == 0.0
