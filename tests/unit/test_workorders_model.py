"""R12 without I/O: required fields per kind, routing kind x urgency x region to a
department and due time, the forward-only status machine, overdue on a virtual clock,
and a configuration that would leave an order without a department refused."""

from __future__ import annotations

import pytest

from cti.configreader import Table
from cti.errors import ConfigError
from cti.orders.settings import parse_workorders
from workorders import (
    BadDisposition, BadTransition, Rule, Rules, WorkOrder, check_disposition, overdue,
)
from workorders.model import DEFAULT_KINDS
from workorders.steps import Effects, take

RULES = Rules({k.name: k for k in DEFAULT_KINDS}, (
    Rule("north-repair", 4 * 3600, kind="fault-report", urgency="high", region="north"),
    Rule("repair", 24 * 3600, kind="fault-report"),
    Rule("gas-emergency", 1800, kind="emergency"),
    Rule("service", 48 * 3600),
))


def order(due_at: float, status: str = "new", alerted: bool = False) -> WorkOrder:
    return WorkOrder("WO-1", "k1", "fault-report", "repair", status, 0.0, due_at, overdue_alerted=alerted)


def test_R12_required_fields_depend_on_the_kind() -> None:
    with pytest.raises(BadDisposition, match="occurred_at"):
        check_disposition(RULES, "fault-report", {"customer_name": "王", "address": "1 號", "contact_number": "1",
                                                  "content": "漏氣", "urgency": "high", "region": "north"})
    assert check_disposition(RULES, "consultation", {"content": " 問電價 "}) == {"content": "問電價", "urgency": "normal"}
    assert check_disposition(RULES, "emergency", {"urgency": "low", "address": "東路 5 號"})["urgency"] == "emergency"  # R8: always
    with pytest.raises(BadDisposition, match="urgency"):
        check_disposition(RULES, "consultation", {"content": "x", "urgency": "whenever"})
    with pytest.raises(BadDisposition, match="longer"):
        check_disposition(RULES, "consultation", {"content": "x" * 4001})
    with pytest.raises(BadDisposition, match="text"):
        check_disposition(RULES, "consultation", {"content": 5})


def test_R12_rules_route_by_kind_urgency_region_first_match_wins() -> None:
    assert RULES.route("fault-report", "high", "north").department == "north-repair"  # type: ignore[union-attr]
    assert RULES.route("fault-report", "high", "south").department == "repair"  # type: ignore[union-attr]
    assert RULES.route("complaint", "normal", "").department == "service"  # type: ignore[union-attr]
    assert RULES.unrouted() == []
    assert ("complaint", "low") in Rules(RULES.kinds, RULES.rules[:3]).unrouted()


def test_R12_status_moves_forward_only() -> None:
    o = order(100.0)
    assert take(o, "arrive", {}, 1.0, "repair", ()) == Effects() and o.status == "on-site"  # steps may be skipped
    with pytest.raises(BadTransition):
        take(o, "accept", {}, 2.0, "repair", ())
    take(o, "cancel", {"note": "withdrawn"}, 3.0, "sup", ())
    assert (o.status, o.closed_at, o.history[-1]["note"]) == ("cancelled", 3.0, "withdrawn")
    with pytest.raises(BadTransition, match="does not change"):
        take(o, "cancel", {}, 4.0, "sup", ())
    with pytest.raises(BadTransition):
        take(order(1.0), "lose", {}, 1.0, "x", ())


def test_R12_overdue_on_a_virtual_clock() -> None:
    orders = [order(100.0), order(50.0, "accepted"), order(10.0, "done"), order(20.0, alerted=True)]
    assert overdue(orders, 49.0) == []
    assert [o.due_at for o in overdue(orders, 100.0)] == [50.0, 100.0]  # most overdue first; done and alerted not


def test_R12_a_configuration_that_leaves_orders_unrouted_is_refused() -> None:
    config = {"departments": [{"name": "repair", "webhook_url": "http://127.0.0.1:9/r"}],
              "rules": [{"kind": "fault-report", "department": "repair", "due_h": 24}]}
    with pytest.raises(ConfigError, match="every action kind"):
        parse_workorders(Table(config, "workorders"), 6)
    config["rules"].append({"department": "repair", "due_h": 48})
    settings = parse_workorders(Table(config, "workorders"), 6)
    assert settings.enabled and settings.rules.route("complaint", "low", "x").due_s == 48 * 3600  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="departments"):
        parse_workorders(Table({**config, "rules": [{"department": "nobody"}]}, "workorders"), 6)
    with pytest.raises(ConfigError, match="fields among"):
        parse_workorders(Table({**config, "kinds": [{"name": "x", "required": ["mood"]}]}, "workorders"), 6)


def test_R14_order_ids_are_never_taken_for_phone_numbers_by_the_log_masking() -> None:
    from cti.masking import mask_text
    from cti.orders.service import _order_id

    ids = {_order_id(1_796_000_000.0 + i) for i in range(5000)}
    assert len(ids) == 5000
    assert all(mask_text(f"order {i} and rv-{i}-1.") == f"order {i} and rv-{i}-1." for i in ids)


def test_R20_an_emergency_order_needs_the_incidents_location() -> None:
    with pytest.raises(BadDisposition, match="address") as refused:
        check_disposition(RULES, "emergency", {"content": "聞到燃氣味"})
    assert refused.value.fields == {"address": "required"}  # named for the desk to show next to the field
    assert check_disposition(RULES, "emergency", {"address": "東路 5 號"})["address"] == "東路 5 號"
