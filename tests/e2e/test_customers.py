"""R19 customer records on the sandbox, in a real browser: a customer's first call (a
fault report, its number withheld) is disposed on the desk with the customer's first
number and an account id, which makes a record; the agent adds the second number on
the desk (the record's history keeps the edit). The customer calls again (SIPp, through
the real Asterisk) from the SECOND number: the agent's desk pops the record matched by
that number (name, account id, the earlier order and call) and the new call's
disposition form is filled from it (name, address, region, contact number, account id).
R14: a supervisor reading the same desk sees the record's numbers masked."""

from __future__ import annotations

import json
from typing import Any

from selenium.webdriver.support.ui import Select

from tests.e2e.harness import ADMIN_TOKEN, Sandbox, Webhook, keys_scenario, wait_for
from tests.e2e.harness.browser import Page
from tests.e2e.harness.sipp import sandbox_root, write_scenario
from tests.e2e.test_auth import basic, call
from tests.e2e.test_desk_browser import SUPERVISOR, desk_config

FIRST, SECOND = "13998765432", "13812345678"  # (the sandbox lets 13812345678 call)
ACCOUNT = "M-2026-0931"
NAME, ADDRESS, REGION = "王小明", "北區和平路 1 號", "north"


def caller_from(sandbox: Sandbox, number: str, keys: str, talk_ms: int) -> Any:
    """A caller from ``number`` who presses ``keys`` in the IVR, then talks."""
    name = keys_scenario(keys, 2500)
    scenario = write_scenario(name.replace(".xml", f"-{number}.xml"), (sandbox_root() / "opt/cti-sipp" / name)
                              .read_text().replace("sip:caller@", f"sip:{number}@"))
    return sandbox.call_scenario(scenario, "100", talk_ms)


def test_R19_a_customer_calling_from_the_second_number_of_its_record_is_popped_and_the_form_prefilled(
        sandbox: Sandbox, start_engine, browser) -> None:  # type: ignore[no-untyped-def]
    department = Webhook()
    try:
        agent = sandbox.agent("1001", "agent_answer.xml", "-set", "ring_ms", "2000")
        engine = start_engine(agents=[], extra=desk_config(department.url))
        page = Page(browser, f"http://127.0.0.1:{engine.port}")
        page.open("/agent")
        page.sign_in("1001", "432109")
        page.until(lambda: "Logged out" in page.text("state"), 10, "the agent shown logged out")
        page.click("btn-ready")
        page.until(lambda: "Ready" in page.text("state"), 5, "the agent ready")

        # The first call (its number withheld: the sandbox's plain caller): a fault report
        # whose contact number is the customer's first number.
        first = caller_from(sandbox, "caller", "3", 4000)
        page.until(lambda: "Connected" in page.text("call-state"), 40, "the first call answered")
        assert not page.visible("customer-box")  # nobody knows this customer yet
        first_id = call(engine.port, "GET", "/desk/1001", f"Bearer {ADMIN_TOKEN}")[1]["call"]["call_id"]
        assert first.wait(40) == 0, first.output()
        agent.leg_with(first.outcome(5).hung_up_itself(4000))
        for field, value in (("customer_name", NAME), ("address", ADDRESS), ("region", REGION),
                             ("content", "燃氣表漏氣"), ("occurred_at", "今晨 7 時"), ("contact_number", FIRST),
                             ("account_id", ACCOUNT)):
            page.fill(f"f-{field}", value)
        Select(page.el("f-urgency")).select_by_value("high")
        page.click("btn-dispose")
        # R20: the order's facts are read back to the customer before it is recorded.
        page.until(lambda: page.visible("read-back"), 5, "the read-back panel")
        assert ADDRESS in page.text("read-back") and FIRST in page.text("read-back"), page.text("read-back")
        page.click("btn-read-confirmed")
        page.until(lambda: "WO-" in page.text("dispose-result"), 10, "the work order made from the disposition")
        order_id = next(w for w in page.text("dispose-result").split() if w.startswith("WO-"))
        page.until(lambda: "Ready" in page.text("state"), 5, "ready after the disposition")
        # The disposition made the record; the agent adds the customer's second number on the desk.
        page.until(lambda: page.text("customer-rec-name") == NAME, 10, "the new record on the desk")
        assert page.text("customer-numbers") == FIRST
        page.click("customer-edit")  # (its summary opens the editor)
        page.fill("c-numbers", f"{FIRST}\n{SECOND}")
        page.click("btn-customer-save")
        page.until(lambda: "Record saved" in page.text("customer-result"), 10, "the record saved")
        page.until(lambda: "edited" in page.text("customer-history"), 5, "the edit in the record's history")
        status, found = call(engine.port, "GET", f"/customers?number={SECOND}", f"Bearer {ADMIN_TOKEN}")
        assert status == 200 and len(found) == 1, found
        assert [n["number"] for n in found[0]["numbers"]] == [FIRST, SECOND]
        assert found[0]["account_id"] == ACCOUNT and found[0]["name"] == NAME

        # The customer calls again, from the SECOND number.
        second = caller_from(sandbox, SECOND, "3", 15000)
        page.until(lambda: "Connected" in page.text("call-state"), 40, "the second call answered")
        assert page.text("call-number") == SECOND
        page.until(lambda: page.visible("customer-box") and page.text("customer-rec-name") == NAME, 10,
                   "the customer's record on the screen pop")
        assert page.text("customer-account") == ACCOUNT
        assert FIRST in page.text("customer-numbers") and SECOND in page.text("customer-numbers")
        assert ADDRESS in page.text("customer-addresses")
        assert order_id in page.text("customer-orders")  # the earlier order ...
        page.until(lambda: first_id in page.text("customer-calls"), 10, "the earlier call on the record")
        # ... and the new call's disposition form, filled from the record.
        values = {f: page.el(f"f-{f}").get_attribute("value")
                  for f in ("customer_name", "address", "region", "contact_number", "account_id")}
        assert values == {"customer_name": NAME, "address": ADDRESS, "region": REGION,
                          "contact_number": SECOND, "account_id": ACCOUNT}, values
        page.shot("agent-desk-customer")
        # R14: a supervisor reading the same desk sees the record, its numbers masked.
        status, seen = call(engine.port, "GET", "/desk/1001", basic(*SUPERVISOR))
        assert status == 200 and seen["customer"]["customer_id"] == found[0]["customer_id"]
        assert FIRST not in json.dumps(seen) and SECOND not in json.dumps(seen)
        assert second.wait(40) == 0, second.output()
        agent.leg_with(second.outcome(5).hung_up_itself(15000))
        wait_for(lambda: engine.agent("1001")["state"] in ("wrap-up", "ready"), 10, "the second call ended")
        assert FIRST not in engine.log() and SECOND not in engine.log()
    finally:
        department.close()
