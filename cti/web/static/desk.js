// The agent desk: signs in (agent id + PIN), follows the engine through server-sent
// events (/events) and reads its data from the same API an integration uses.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const t = CtiPage.t, word = CtiPage.word;  // the page's words (cti/web/locale)
  const VISIT_FIELDS = ["outcome", "score", "solved", "comment"];  // a return visit's (R11, R17)
  let me = null, desk = null, skew = 0, source = null, formFor = null, editing = null, pristine = "";
  let recordedHere = null;  // the call whose disposition this page recorded last

  // Drafts: the disposition being typed is kept per call in this browser as it is typed
  // (localStorage, the 20 newest), so that neither the next call, the end of wrap-up nor a
  // reload loses it; a draft goes when its disposition is recorded.
  // They are kept on the server too (PUT /desk/{agent}/drafts/{call}: another browser, a
  // lost one), and this browser forgets them when the agent signs out (a shared desk).
  const draftsKey = () => (me ? "cti-drafts-" + me.agent_id : null);
  function drafts() {
    const key = draftsKey();
    if (!key) return {};
    let local = {};
    try { local = JSON.parse(localStorage.getItem(key) || "{}") || {}; } catch (e) { local = {}; }
    for (const d of (desk && desk.drafts) || []) {  // the server's, where this browser has none newer
      if (!local[d.call_id] || local[d.call_id].at < d.at) local[d.call_id] = {...d, server: true};
    }
    for (const id of Object.keys(local)) if (local[id].gone) delete local[id];
    return local;
  }
  const unsent = new Map();  // call id -> the draft to send (or null: to drop), sent a second after typing
  let sendTimer = null;
  async function sendDrafts() {
    sendTimer = null;
    for (const [callId, d] of [...unsent]) {
      unsent.delete(callId);
      const path = "/desk/" + encodeURIComponent(me.agent_id) + "/drafts/" + encodeURIComponent(callId);
      try {
        if (d) await api("PUT", path, {kind: d.kind, fields: d.fields});
        else await api("DELETE", path);
      } catch (e) { if (!unsent.has(callId)) unsent.set(callId, d); }  // tried again with the next change
    }
  }
  function send(callId, d) {
    unsent.set(callId, d);
    if (!sendTimer) sendTimer = setTimeout(sendDrafts, 1000);
  }
  function keepDrafts(all) {
    const key = draftsKey();
    if (!key) return;
    const newest = Object.values(all).sort((a, b) => b.at - a.at).slice(0, 20);
    localStorage.setItem(key, JSON.stringify(Object.fromEntries(newest.map((d) => [d.call_id, d]))));
    renderDrafts();
  }
  function formValues() {
    const fields = {};
    for (const f of desk.form.fields) { const el = $("f-" + f); if (el && el.value !== "") fields[f] = el.value; }
    return {kind: $("f-kind").value, fields};
  }
  function saveDraft() {
    if (!editing || !desk || !me) return;
    const values = formValues(), all = drafts(), had = !!all[editing];
    if (JSON.stringify(values) === pristine) {
      if (had) { all[editing] = {call_id: editing, at: Date.now() / 1000, gone: true}; send(editing, null); }
    } else {
      all[editing] = {call_id: editing, at: Date.now() / 1000, caller: (all[editing] || {}).caller || (desk.call && desk.call.call_id === editing ? desk.call.caller : ""), ...values};
      send(editing, all[editing]);
    }
    keepDrafts(all);
  }
  function fillForm(draft) {
    $("f-kind").value = draft.kind; markRequired();
    for (const f of desk.form.fields) { const el = $("f-" + f); if (el && f !== "kind") el.value = draft.fields[f] || (f === "urgency" ? "normal" : ""); }
  }
  function renderDrafts() {
    const all = Object.values(drafts()).filter((d) => d.call_id !== editing).sort((a, b) => b.at - a.at);
    $("drafts-box").hidden = !all.length;
    const ul = $("drafts"); ul.innerHTML = "";
    for (const d of all) {
      const li = document.createElement("li"), b = document.createElement("button");
      li.textContent = CtiPage.time(d.at) + " · " + (d.caller || d.call_id) + " · " + kindName(d.kind) + " ";
      b.type = "button"; b.className = "quiet"; b.textContent = t("Resume"); b.dataset.call = d.call_id;
      b.addEventListener("click", () => { saveDraft(); editing = d.call_id; $("dispose-result").textContent = "";
        $("disposition").reset(); pristine = ""; fillForm(d); renderDrafts(); renderEditing(); });
      li.appendChild(b); ul.appendChild(li);
    }
  }
  function renderEditing() {  // which call the form records, when it is not the call on screen
    const other = editing && (!desk.call || desk.call.call_id !== editing);
    $("form-for").hidden = !other;
    if (other) $("form-for").textContent = t("For an earlier call: {caller}", {caller: (drafts()[editing] || {}).caller || editing});
    $("btn-dispose").disabled = !CtiDeskOrders.walkIn() && (!editing || (!other && desk.call.state === "offered"));
  }

  const fmt = CtiPage.duration;
  // A disposition kind as people read it: the catalogue's word for a known kind, else the
  // site's configured label, else its name.
  function kindName(name) {
    const k = desk && desk.form.kinds.find((x) => x.name === name);
    return word("kind", name, k && k.label ? k.label : name);
  }
  function ago(at) {
    const s = Date.now() / 1000 + skew - at;
    if (s < 3600) return t("{n} min ago", {n: Math.max(1, Math.round(s / 60))});
    if (s < 86400) return t("{n} h ago", {n: Math.round(s / 3600)});
    return t("{n} days ago", {n: Math.round(s / 86400)});
  }
  const api = CtiPage.api, showSignIn = CtiPage.showSignIn;
  async function start() {
    try {
      me = await api("GET", "/auth/me");
    } catch (e) { showSignIn(); return; }
    if (!me.agent_id) { $("signin-error").textContent = t("Sign in with an agent ID"); showSignIn(); return; }
    $("signin").hidden = true; $("app").hidden = false;
    $("agent-id").textContent = me.agent_id;
    follow();
    await refresh();
  }
  function follow() {
    if (source) source.close();
    source = new EventSource("/events");
    source.addEventListener("agent", () => { refresh(); });
    source.onopen = () => { $("connection").textContent = ""; refresh(); };
    source.onerror = () => {
      $("connection").textContent = t("Reconnecting…");
      if (source.readyState === EventSource.CLOSED) {  // refused (signed out, or the engine is not leading)
        setTimeout(() => { api("GET", "/auth/me").then(follow, () => {}); }, 2000);
      }
    };
  }
  async function refresh() {
    if (!me) return;
    try {
      desk = await api("GET", "/desk/" + encodeURIComponent(me.agent_id));
    } catch (e) { return; }
    skew = desk.now - Date.now() / 1000;
    render();
    document.dispatchEvent(new CustomEvent("cti:desk", {detail: desk}));  // the desk's data, read again
    try { renderComplaints(await api("GET", "/complaints")); } catch (e) { renderComplaints([]); }
    CtiDeskQuality.refresh();  // R18: the agent's own quality results
    CtiDeskKnowledge.refresh(desk.call);  // R19: the knowledge base's suggestions for the call's kind
  }
  // R16: the complaints this agent owns (first to take them), the soonest due first. One
  // is chosen to act on: the feedback call (this phone rings first, then the customer's)
  // and the next steps of its path, with a note (and how the customer was told).
  const NEXT = {"received": ["investigating"], "investigating": ["result-given"],
    "result-given": ["accepted", "not-satisfied"], "not-satisfied": ["investigating"]};
  let complaints = [], chosen = null;
  function renderComplaints(list) {
    complaints = list;
    $("complaints-box").hidden = !list.length;
    const ul = $("my-complaints"); ul.innerHTML = "";
    for (const c of list) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button"; b.className = "link"; b.id = "complaint-" + c.order_id;
      b.textContent = c.order_id + " · " + word("complaint", c.status) + " · " + word("level", c.level) + " · " +
        t("due {when}", {when: new Date(c.feedback_due * 1000).toLocaleString(CtiPage.locale, {hour12: false})});
      b.addEventListener("click", () => { chosen = c.order_id; $("complaint-result").textContent = ""; renderChosen(); });
      if (c.feedback_due < Date.now() / 1000 + skew) li.className = "alarm";
      li.appendChild(b);
      ul.appendChild(li);
    }
    renderChosen();
  }
  function renderChosen() {
    const c = complaints.find((k) => k.order_id === chosen);
    $("complaint-act").hidden = !c;
    if (!c) return;
    $("complaint-chosen").textContent = c.order_id + " · " + word("complaint", c.status);
    const steps = $("complaint-steps"); steps.innerHTML = "";
    for (const next of NEXT[c.status] || []) {
      const b = document.createElement("button");
      b.type = "button"; b.id = "complaint-step-" + next; b.textContent = word("complaint", next);
      b.addEventListener("click", () => complaintStep(c.order_id, next));
      steps.appendChild(b);
    }
    $("complaint-channel-label").hidden = !(NEXT[c.status] || []).includes("result-given");
  }
  async function complaintStep(orderId, status) {
    const body = {status, note: $("complaint-note").value.trim()};
    if (status === "result-given") body.channel = $("complaint-channel").value;
    try {
      await api("POST", "/complaints/" + encodeURIComponent(orderId) + "/steps", body);
      $("complaint-note").value = "";
      $("complaint-result").textContent = t("Recorded");
    } catch (e) { $("complaint-result").textContent = e.message; }
    refresh();
  }
  $("btn-feedback-call").addEventListener("click", async () => {
    if (!chosen) return;
    try {
      await api("POST", "/complaints/" + encodeURIComponent(chosen) + "/feedback-call", {});
      $("complaint-result").textContent = t("Your phone rings first, then the customer's");
    } catch (e) { $("complaint-result").textContent = e.message; }
  });
  function render() {
    const a = desk.agent;
    $("state").textContent = word("state", a.state);
    $("state").className = "state s-" + a.state;
    $("reason").textContent = word("pause", a.reason);
    $("pending").hidden = !a.pending;  // a pause or logout asked for during a call waits for its end
    $("pending").textContent = a.pending === "logged-out" ? t("Log-out after this call")
      : (a.pending ? t("Pause after this call: {reason}", {reason: word("pause", a.pending_reason)}) : "");
    renderAgentControls(a);
    const sel = $("pause-code");
    if (sel.options.length !== desk.pause_codes.length) {
      sel.innerHTML = "";
      for (const code of desk.pause_codes) sel.add(new Option(word("pause", code), code));
    }
    // The last call, ended and recorded, is no longer on screen once the agent has moved on
    // (after a sign-in it would offer to record it again).
    const call = desk.call && desk.call.state === "ended" && a.state !== "wrap-up" && desk.disposition
      && desk.call.call_id !== recordedHere ? null : desk.call;  // (one just recorded here stays, with its result)
    $("no-call").hidden = !!call; $("call").hidden = !call;
    if (call) {
      $("call-number").textContent = call.caller || "—";
      $("call-state").textContent = call.dialing ? t("Dialling the customer") :
        ({"offered": t("Ringing"), "connected": t("Connected"), "ended": t("Ended")}[call.state] || call.state) +
        (call.callback ? " · " + t("Callback") + (call.attempts ? " #" + call.attempts : "") : "");
      $("call-kind").textContent = call.kind ? kindName(call.kind) : "—";
      $("call-queue").textContent = call.queue;
      $("emergency-flag").hidden = !call.emergency;
    }
    renderControls(call);
    $("script-box").hidden = !(call && call.campaign);
    if (call && call.campaign) {
      $("campaign").textContent = call.campaign; $("customer-name").textContent = call.customer_name || "";
      $("script").textContent = call.script || "";
    }
    $("safety").hidden = !desk.safety_script;
    $("btn-emergency-order").disabled = !call || call.state === "offered";  // once answered
    $("safety-script").textContent = desk.safety_script || "";
    const contacts = $("contacts"); contacts.innerHTML = "";
    for (const k of desk.history.contacts) {
      const li = document.createElement("li");
      li.textContent = (k.agent_id === me.agent_id ? t("You") : (k.agent_id ? t("Agent {id}", {id: k.agent_id}) : t("Unanswered"))) +
        " · " + ago(k.ended_at) + " · " + (k.kind ? kindName(k.kind) : k.queue) + " · " + word("outcome", k.outcome);
      contacts.appendChild(li);
    }
    const orders = $("open-orders"); orders.innerHTML = "";
    for (const o of desk.history.open_orders) {
      const li = document.createElement("li");
      li.textContent = o.order_id + " · " + kindName(o.kind) + " · " + word("status", o.status) + " · " + o.department;
      orders.appendChild(li);
    }
    renderForm(call);
    renderDrafts();  // (another browser's, from the server, too)
    tick();
  }
  // The agent's buttons follow its state machine: only what is allowed now is enabled,
  // and the main button says what it will do.
  function renderAgentControls(a) {
    const inCall = a.state === "offered" || a.state === "on-call";
    const main = {"logged-out": t("Log in"), "not-ready": t("Ready"), "wrap-up": t("End wrap-up"),
      "ready": t("Ready"), "offered": t("Cancel pending"), "on-call": t("Cancel pending")}[a.state];
    $("btn-ready").textContent = main || t("Ready");
    $("btn-ready").disabled = a.state === "ready" || (inCall && !a.pending);
    $("btn-pause").disabled = a.state === "logged-out";
    $("pause-code").disabled = a.state === "logged-out";
    $("btn-logout").disabled = a.state === "logged-out" || a.pending === "logged-out";
  }
  function renderControls(call) {
    // Hold and transfers, for the agent on a connected call; complete or cancel while consulting.
    const mine = !!call && call.state === "connected" && !call.dialing;
    $("call-controls").hidden = !mine || !!call.consult;
    $("consult-controls").hidden = !mine || !call.consult;
    if (!mine) return;
    $("btn-hold").textContent = call.on_hold ? t("Resume") : t("Hold");
    $("consult-state").textContent = call.consult ? t("Consulting {target}", {target: call.consult}) + " · " +
      (call.consult_answered ? t("answered") : t("ringing")) : "";
    $("btn-complete").disabled = !call.consult_answered;
    const sel = $("transfer-target"), to = desk.transfer_to, keep = sel.value;
    const options = to.agents.map((a) => ["agent:" + a, t("Agent {id}", {id: a})])
      .concat(to.queues.map((q) => ["queue:" + q, t("Queue {name}", {name: q})]))
      .concat(to.external ? [["external:", t("External number")]] : []);
    if (sel.dataset.options !== JSON.stringify(options)) {
      sel.dataset.options = JSON.stringify(options);
      sel.innerHTML = "";
      for (const [value, label] of options) sel.add(new Option(label, value));
      if (options.some((o) => o[0] === keep)) sel.value = keep;
    }
    $("transfer-number").hidden = sel.value !== "external:";
    $("btn-consult").disabled = !sel.value.startsWith("agent:");
  }
  async function callAct(path, body) {
    $("action-error").textContent = "";
    try { await api("POST", "/calls/" + encodeURIComponent(desk.call.call_id) + path, body || {}); }
    catch (e) { $("action-error").textContent = e.message; }
    refresh();
  }
  function transfer(attended) {
    const [to, target] = $("transfer-target").value.split(/:(.*)/s);
    callAct("/transfer", {to, target: to === "external" ? $("transfer-number").value.trim() : target, attended});
  }
  function renderForm(call) {
    const kinds = $("f-kind");
    if (kinds.options.length !== desk.form.kinds.length) {
      kinds.innerHTML = "";
      for (const k of desk.form.kinds) kinds.add(new Option(kindName(k.name), k.name));
      const urg = $("f-urgency"); urg.innerHTML = "";
      for (const u of desk.form.urgencies) urg.add(new Option(word("urgency", u), u));
      urg.value = "normal";
      const outcome = $("f-outcome");  // R11/R17: a return visit's outcome and the customer's answers
      if (outcome.options.length === 1) {
        for (const o of ["satisfied", "not-solved", "no-answer", "wrong-number", "do-not-call"]) outcome.add(new Option(word("outcome", o), o));
      }
    }
    const key = call ? call.call_id : null;
    if (key !== formFor) {  // a new call: what was typed is kept as a draft; a fresh form for the call
      if (formFor !== null || editing !== null) saveDraft();
      formFor = key; editing = key;
      $("disposition").reset(); $("f-urgency").value = "normal"; $("dispose-result").textContent = "";
      if (call) {
        const match = desk.form.kinds.find((k) => k.name === call.kind) || (call.emergency && desk.form.kinds.find((k) => k.emergency));
        if (match) kinds.value = match.name;
        if (call.caller && call.caller.indexOf("*") < 0) $("f-contact_number").value = call.caller;
      }
      // A fresh form for a call: other parts of the desk may fill it (R19: the customer's record)
      document.dispatchEvent(new CustomEvent("cti:form-fresh", {detail: {call, desk}}));
      markRequired();
      pristine = JSON.stringify(formValues());
      const kept = key && drafts()[key];
      if (kept && !desk.disposition) fillForm(kept);  // this call's draft (a reload, a sign-in again)
      renderDrafts();
    }
    renderEditing();
    if (desk.disposition && editing === key && !$("dispose-result").textContent) $("dispose-result").textContent = t("Recorded") + (desk.disposition.order_id ? " · " + desk.disposition.order_id : "");
  }
  function markRequired() {
    const kind = desk.form.kinds.find((k) => k.name === $("f-kind").value);
    for (const el of document.querySelectorAll("#disposition [data-kind]")) {  // R16: a complaint's scale and claim
      el.hidden = el.dataset.kind !== $("f-kind").value;
      if (el.hidden) for (const f of el.querySelectorAll("input, select")) f.value = "";
    }
    const visit = !!kind && kind.name === "return-visit";  // R17: only a return visit asks these
    $("visit-fields").hidden = !visit;
    if (!visit) for (const f of VISIT_FIELDS) $("f-" + f).value = "";
    for (const f of desk.form.fields) {
      const el = $("f-" + f); if (!el) continue;
      const required = !!kind && kind.required.indexOf(f) >= 0;
      el.parentElement.classList.toggle("required", required);
      el.setAttribute("aria-required", String(required));
    }
  }
  function tick() {
    if (!desk) return;
    const now = Date.now() / 1000 + skew, a = desk.agent;
    $("in-state").textContent = fmt(now - a.since);
    const wrap = a.state === "wrap-up";
    $("wrap-countdown").hidden = !wrap;
    if (wrap) $("wrap-left").textContent = a.wrap_up_until ? fmt(a.wrap_up_until - now) : t("until the disposition");
    // Wrap-up about to end with a disposition typed and not recorded: say it is kept.
    const unsent = editing && drafts()[editing];
    $("draft-warning").hidden = !(wrap && a.wrap_up_until && a.wrap_up_until - now < 15 && unsent);
    const call = desk.call;
    if (call) {
      $("call-waited").textContent = fmt(call.waited_s !== undefined && call.state !== "offered" ? call.waited_s : now - call.arrived_at);
      $("call-talk").textContent = call.answered_at ? fmt(now - call.answered_at) : (call.talked_s !== undefined ? fmt(call.talked_s) : "—");
    }
  }
  async function act(path, body) {
    $("action-error").textContent = "";
    try { await api("POST", "/agents/" + encodeURIComponent(me.agent_id) + path, body || {}); }
    catch (e) { $("action-error").textContent = e.message; }
    refresh();
  }
  async function dispose(kind, fields) {
    const result = $("dispose-result"), callId = editing || desk.call.call_id;
    try {
      const r = await api("POST", "/calls/" + encodeURIComponent(callId) + "/disposition", {kind, fields});
      recordedHere = callId;
      const all = drafts(); all[callId] = {call_id: callId, at: Date.now() / 1000, gone: true}; keepDrafts(all);
      unsent.delete(callId);  // (recorded: the server dropped its draft with it)
      pristine = JSON.stringify(formValues());
      if (callId !== (desk.call && desk.call.call_id)) {  // an earlier call's, recorded: back to the call on screen
        editing = null; formFor = null; renderForm(desk.call);  // its form as it pops (its own draft, if any)
      }
      result.className = "ok";
      result.textContent = t("Recorded") + (r.order ? " · " + t("Work order") + " " + r.order.order_id + " → " + r.order.department : "");
    } catch (e) {  // the server's verdict on a field, next to that field
      result.className = "error";
      const placed = e.fields && Object.keys(e.fields).length && callId === editing && !markFields(e.fields);
      result.textContent = placed ? t("Check the marked fields") : e.message;
    }
    refresh();
  }
  $("btn-ready").addEventListener("click", () =>
    act(desk && desk.agent.state === "logged-out" ? "/login" : (desk && desk.agent.state === "wrap-up" ? "/end-wrap-up" : "/ready")));
  $("btn-pause").addEventListener("click", () => act("/pause", {reason: $("pause-code").value}));
  $("btn-logout").addEventListener("click", () => act("/logout"));
  $("btn-hold").addEventListener("click", () => callAct(desk.call.on_hold ? "/unhold" : "/hold"));
  $("transfer-target").addEventListener("change", () => renderControls(desk.call));
  $("transfer-target").addEventListener("focus", refresh);  // who is ready now
  $("btn-transfer").addEventListener("click", () => transfer(false));
  $("btn-consult").addEventListener("click", () => transfer(true));
  $("btn-complete").addEventListener("click", () => callAct("/transfer/complete"));
  $("btn-cancel").addEventListener("click", () => callAct("/transfer/cancel"));
  CtiPage.setup(start, () => { if (source) { source.close(); source = null; } me = null; }, async () => {
    if (sendTimer) { clearTimeout(sendTimer); sendTimer = null; }
    await sendDrafts();  // kept on the server, then forgotten by this browser (a shared desk)
    const key = draftsKey();
    if (key) localStorage.removeItem(key);
  });
  $("f-kind").addEventListener("change", markRequired);
  $("disposition").addEventListener("input", saveDraft);
  $("disposition").addEventListener("change", saveDraft);
  // A field the kind requires and left empty (or only spaces) is named next to it, before
  // anything is sent; the browser's own check would let spaces through.
  // Each field at fault ({field: "required" | "too-long" | "invalid"}) named next to it in
  // the page's words, the first focused; the rest cleared. Returns whether none is at fault.
  function markFields(problems) {
    const words = {"required": t("Required"), "too-long": t("Too long"), "invalid": t("Not a valid value")};
    let first = null;
    for (const f of desk.form.fields) {
      const el = $("f-" + f); if (!el) continue;
      const problem = problems[f];
      el.classList.toggle("invalid", !!problem);
      el.setAttribute("aria-invalid", String(!!problem));
      let note = el.parentElement.querySelector(".field-error");
      if (problem && !note) { note = document.createElement("span"); note.className = "field-error"; el.parentElement.appendChild(note); }
      if (note) note.textContent = problem ? (words[problem] || t("Not a valid value")) : "";
      if (problem && !first) first = el;
    }
    if (first) first.focus();
    return !first;
  }
  function checkRequired() {
    const kind = desk.form.kinds.find((k) => k.name === $("f-kind").value), problems = {};
    for (const f of desk.form.fields) {
      const el = $("f-" + f);
      if (el && !!kind && kind.required.indexOf(f) >= 0 && !el.value.trim()) problems[f] = "required";
    }
    return markFields(problems);
  }
  $("disposition").addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!checkRequired()) return;
    const kind = desk.form.kinds.find((k) => k.name === $("f-kind").value);
    if (!CtiDeskOrders.readBackDone(kind)) return;  // R20: the key facts read to the customer first
    const fields = {};
    for (const f of desk.form.fields) { const el = $("f-" + f); if (el && el.value.trim()) fields[f] = el.value.trim(); }
    if (CtiDeskOrders.walkIn()) CtiDeskOrders.submit($("f-kind").value, fields).then(refresh);  // no call: POST /workorders
    else dispose($("f-kind").value, fields);
  });
  window.addEventListener("pagehide", saveDraft);
  $("btn-emergency-order").addEventListener("click", () => {
    const kind = desk.form.kinds.find((k) => k.emergency);
    const fields = {};
    for (const f of ["address", "content", "contact_number", "customer_name"]) { const v = $("f-" + f).value.trim(); if (v) fields[f] = v; }
    dispose(kind ? kind.name : "emergency", fields);
  });
  setInterval(tick, 1000);  // the on-screen clocks only; data comes by the live stream
  start();
})();
