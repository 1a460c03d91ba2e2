// R19: the caller's customer record on the desk (the desk's data: desk.customer): the
// record, its work orders, complaints, return visits and earlier calls, its history;
// the agent edits it (PATCH /customers/{id}); a new call's disposition form is filled
// from it where the agent has typed nothing yet.
"use strict";
window.CtiDeskCustomer = (function () {
  const $ = (id) => document.getElementById(id);
  const t = CtiPage.t, api = CtiPage.api, word = CtiPage.word;
  let shown = null;  // the record on the desk (its id), and the agent's id
  let agentId = null;
  const when = (at) => (at ? new Date(at * 1000).toLocaleDateString(CtiPage.locale) : "");
  function list(id, items, line) {
    const ul = $(id); ul.innerHTML = "";
    for (const item of items) {
      const li = document.createElement("li");
      li.textContent = line(item);
      ul.appendChild(li);
    }
    if (!items.length) {
      const li = document.createElement("li"); li.className = "muted"; li.textContent = t("None"); ul.appendChild(li);
    }
  }
  function fillEditor(c) {
    $("c-name").value = c.name || "";
    $("c-account").value = c.account_id || "";
    $("c-numbers").value = c.numbers.map((n) => n.number).join("\n");
    $("c-addresses").value = c.addresses.map((a) => a.address + (a.region ? " | " + a.region : "")).join("\n");
    $("c-notes").value = c.notes || "";
    $("c-calls").checked = !!c.calls_allowed;
  }
  function render(desk) {
    agentId = desk.agent ? desk.agent.agent_id : agentId;
    const c = desk.customer;
    $("customer-box").hidden = !c;
    if (!c) { shown = null; return; }
    if (shown !== c.customer_id) $("customer-result").textContent = "";
    $("customer-id").textContent = c.customer_id;
    $("customer-rec-name").textContent = c.name;
    $("customer-account").textContent = c.account_id;
    $("customer-numbers").textContent = c.numbers.map((n) => n.number).join(", ");
    $("customer-addresses").textContent = c.addresses.map((a) => a.address + (a.region ? " (" + a.region + ")" : "")).join("; ");
    $("customer-notes").textContent = c.notes;
    $("customer-consent").textContent = c.calls_allowed ? t("Accepts calls") : t("Refuses calls");
    list("customer-orders", c.orders || [], (o) => o.order_id + " · " + when(o.created_at) + " · " + word("status", o.status) +
      (o.content ? " · " + o.content : ""));
    list("customer-complaints", c.complaints || [], (k) => k.order_id + " · " + when(k.received_at) + " · " + word("complaint", k.status));
    list("customer-visits", c.visits || [], (v) => (v.order_id || v.entry_id) + " · " + when(v.due_at) + " · " +
      (v.outcome ? word("outcome", v.outcome) : v.status));
    list("customer-calls", c.calls || [], (k) => k.call_id + " · " + when(k.arrived_at) + " · " +
      (k.agent_id ? t("Agent {id}", {id: k.agent_id}) : t("Unanswered")) + " · " + word("outcome", k.outcome));
    list("customer-history", c.history || [], (h) => when(h.at) + " · " + h.who + " · " + h.what + " · " +
      Object.keys(h.changes || {}).join(", "));
    if (shown !== c.customer_id || !$("customer-edit").open) fillEditor(c);
    shown = c.customer_id;
  }
  async function save() {
    if (!shown) return;
    const addresses = $("c-addresses").value.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
      const [address, region] = l.split("|").map((p) => p.trim());
      return {address, region: region || ""};
    });
    const body = {name: $("c-name").value.trim(), account_id: $("c-account").value.trim(), notes: $("c-notes").value,
      numbers: $("c-numbers").value.split(/[\n,;]/).map((n) => n.trim()).filter(Boolean), addresses,
      calls_allowed: $("c-calls").checked};
    $("customer-result").textContent = "";
    try {
      await api("PATCH", "/customers/" + encodeURIComponent(shown), body);
      $("customer-result").textContent = t("Record saved");
      $("customer-edit").open = false;
      if (agentId) render(await api("GET", "/desk/" + encodeURIComponent(agentId)));
    } catch (e) { $("customer-result").textContent = e.message; }
  }
  // A fresh form for a new call: what the record knows, where nothing is typed yet.
  function prefill(detail) {
    const c = detail.desk && detail.desk.customer;
    if (!c || !detail.call) return;
    const first = c.addresses[0] || {address: "", region: ""};
    const number = c.matched || (c.numbers[0] ? c.numbers[0].number : "");
    const values = {"f-customer_name": c.name, "f-address": first.address, "f-region": first.region,
      "f-contact_number": number.indexOf("*") < 0 ? number : "", "f-account_id": c.account_id};
    for (const [id, value] of Object.entries(values)) {
      const input = $(id);
      if (input && !input.value && value) input.value = value;
    }
  }
  document.addEventListener("cti:desk", (ev) => render(ev.detail));
  document.addEventListener("cti:form-fresh", (ev) => prefill(ev.detail));
  $("btn-customer-save").addEventListener("click", save);
  return {render};
})();
