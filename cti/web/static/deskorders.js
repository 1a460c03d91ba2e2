// R20 on the agent desk: the read-back step (before an order is recorded, the key facts
// are shown to read to the customer, who confirms them or corrects them: the desk records
// which, and what was corrected), orders without a call (a walk-in at the service hall, a
// letter, the website: POST /workorders), and the agent's tasks (tell a customer of a
// department's delay: call the customer from this phone, then record it done).
"use strict";
window.CtiDeskOrders = (function () {
  const $ = (id) => document.getElementById(id);
  const t = CtiPage.t, api = CtiPage.api;
  const FACTS = ["customer_name", "address", "region", "contact_number", "account_id", "content", "occurred_at",
    "urgency", "special_requests", "severity", "claim"];
  let desk = null, walking = false, busy = false;

  function label(f) {  // the form's own label for a field (already in the page's language)
    const el = $("f-" + f);
    const span = el && el.parentElement.querySelector("span");
    return span ? span.textContent : f;
  }
  function facts(kind) {
    const dl = $("read-back-facts"); dl.innerHTML = "";
    const rows = [[$("f-kind").parentElement.querySelector("span").textContent,
      $("f-kind").selectedOptions[0] ? $("f-kind").selectedOptions[0].textContent : kind.name]];
    for (const f of FACTS) {
      const el = $("f-" + f);
      if (!el || !el.value.trim()) continue;
      rows.push([label(f), el.tagName === "SELECT" && el.selectedOptions[0] ? el.selectedOptions[0].textContent : el.value.trim()]);
    }
    for (const [name, value] of rows) {
      const dt = document.createElement("dt"); dt.textContent = name;
      const dd = document.createElement("dd"); dd.textContent = value;
      dl.append(dt, dd);
    }
  }
  // Whether the form may be sent: an order's kind is read back first (an emergency is
  // not: one click, R8). The first submit shows the facts; the agent's answer sends it.
  function readBackDone(kind) {
    if (!kind || !kind.action || kind.emergency || $("f-read_back").value) return true;
    facts(kind);
    $("read-back").hidden = false;
    $("btn-read-confirmed").focus();
    return false;
  }
  function answered(how) {
    if (how === "corrected" && !$("f-corrections").value.trim()) {
      $("f-corrections").classList.add("invalid");
      $("f-corrections").focus();
      return;
    }
    $("f-corrections").classList.remove("invalid");
    if (how === "confirmed") $("f-corrections").value = "";
    $("f-read_back").value = how;
    $("read-back").hidden = true;
    $("disposition").requestSubmit();
  }
  $("btn-read-confirmed").addEventListener("click", () => answered("confirmed"));
  $("btn-read-corrected").addEventListener("click", () => answered("corrected"));
  // A fact changed after it was read: it is read again (the panel follows the form).
  $("disposition").addEventListener("input", (ev) => {
    if (ev.target.id === "f-corrections" || ev.target.id === "f-read_back") return;
    $("f-read_back").value = "";
    if (!$("read-back").hidden && desk) {
      const kind = desk.form.kinds.find((k) => k.name === $("f-kind").value);
      if (kind && kind.action) facts(kind); else $("read-back").hidden = true;
    }
  });
  document.addEventListener("cti:form-fresh", (ev) => {  // a new call's form: nothing read back yet
    $("read-back").hidden = true;
    if (ev.detail.call) leave();
  });

  function onCall() { return !!(desk && desk.call && desk.call.state !== "ended"); }
  function enter() {
    if (onCall()) return;
    walking = true;
    $("disposition").reset(); $("f-urgency").value = "normal"; $("read-back").hidden = true;
    $("walkin-bar").hidden = false;
    $("btn-dispose").disabled = false;
    $("dispose-result").textContent = "";
    $("f-kind").dispatchEvent(new Event("change"));
    $("f-customer_name").focus();
  }
  function leave() {
    if (!walking) return;
    walking = false;
    $("walkin-bar").hidden = true;
    $("btn-dispose").disabled = !desk || !desk.call;
  }
  $("btn-walkin").addEventListener("click", enter);
  $("btn-walkin-cancel").addEventListener("click", () => { $("disposition").reset(); leave(); });
  async function submit(kind, fields) {
    const result = $("dispose-result");
    if (busy) return;
    busy = true;
    try {
      const o = await api("POST", "/workorders", {channel: $("walkin-channel").value, kind, fields});
      result.className = "ok";
      result.textContent = t("Recorded") + " · " + t("Work order") + " " + o.order_id + " → " + o.department;
      $("disposition").reset(); $("f-urgency").value = "normal";
      leave();
    } catch (e) {
      result.className = "error";
      result.textContent = e.message;
    } finally { busy = false; }
  }

  // The agent's open tasks (R20: tell the customer of a delay).
  async function tasks() {
    let list = [];
    try { list = await api("GET", "/tasks"); } catch (e) { list = []; }
    $("tasks-box").hidden = !list.length;
    // The list is drawn again at every refresh of the desk: what the agent is typing in an
    // outcome (and where) is carried over, not lost to an unrelated update.
    const typed = new Map();
    let focused = null;
    for (const el of $("my-tasks").querySelectorAll(".task-outcome")) {
      if (el.value) typed.set(el.dataset.task, el.value);
      if (el === document.activeElement) focused = {task: el.dataset.task, at: el.selectionStart, to: el.selectionEnd};
    }
    const ul = $("my-tasks"); ul.innerHTML = "";
    for (const k of list) {
      const li = document.createElement("li");
      li.id = "task-" + k.task_id;
      const text = document.createElement("span");
      text.textContent = t("Tell the customer of order {order}: {note}", {order: k.order_id, note: k.note});
      const call = document.createElement("button");
      call.type = "button"; call.textContent = t("Call the customer"); call.className = "task-call";
      call.addEventListener("click", () => act(k, "call", {}, t("Your phone rings first, then the customer's")));
      const outcome = document.createElement("input");
      outcome.maxLength = 1000; outcome.placeholder = t("What the customer said"); outcome.className = "task-outcome";
      outcome.dataset.task = k.task_id; outcome.value = typed.get(k.task_id) || "";
      const done = document.createElement("button");
      done.type = "button"; done.textContent = t("Done"); done.className = "task-done";
      done.addEventListener("click", () => act(k, "done", {outcome: outcome.value.trim()}, t("Recorded")));
      li.append(text, " ", call, " ", outcome, " ", done);
      ul.appendChild(li);
      if (focused && focused.task === k.task_id) { outcome.focus(); outcome.setSelectionRange(focused.at, focused.to); }
    }
  }
  async function act(task, what, body, said) {
    try {
      await api("POST", "/tasks/" + encodeURIComponent(task.task_id) + "/" + what, body);
      $("task-result").textContent = said;
    } catch (e) { $("task-result").textContent = e.message; }
    tasks();
  }
  document.addEventListener("cti:desk", (ev) => {
    desk = ev.detail;
    $("btn-walkin").disabled = onCall() || walking;
    if (onCall()) leave();
    tasks();
  });
  return {readBackDone, walkIn: () => walking, submit};
})();
