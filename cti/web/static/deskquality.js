// The agent's own quality results on the desk (GET /quality/mine): score, a critical item
// failed, the inspector's comments; acknowledge, or dispute with a reason (a supervisor
// resolves it). Refreshed with the desk (CtiDeskQuality.refresh) and every 15 s.
"use strict";
window.CtiDeskQuality = (function () {
  const $ = (id) => document.getElementById(id);
  const t = CtiPage.t, api = CtiPage.api;
  const STATUSES = () => ({"scored": t("Scored"), "acknowledged": t("Acknowledged"), "disputed": t("Disputed"),
    "resolved": t("Resolved")});
  let busy = false, shown = "";  // (the last results drawn: the same again is not redrawn)
  function labels(form) {
    const m = {};
    for (const s of form.sections) for (const i of s.items) m[i.item_id] = i.label;
    return m;
  }
  async function reply(callId, answer, comment) {
    $("quality-error").textContent = "";
    try {
      await api("POST", "/quality/inspections/" + encodeURIComponent(callId) + "/reply", {reply: answer, comment});
    } catch (e) { $("quality-error").textContent = e.message; }
    refresh();
  }
  function render(data) {
    const names = labels(data.form);
    const ul = $("my-quality");
    // A reason being typed survives a redraw (new results arrived meanwhile), focus too.
    const typed = {}; let focused = null;
    for (const el of ul.querySelectorAll("input.quality-why")) {
      typed[el.dataset.call] = el.value;
      if (el === document.activeElement) focused = el.dataset.call;
    }
    ul.innerHTML = "";
    $("quality-box").hidden = !data.results.length;
    for (const r of data.results) {
      const li = document.createElement("li");
      li.id = "quality-" + r.call_id;
      const failed = (r.critical_failed || []).map((i) => names[i] || i);
      const head = document.createElement("div");
      head.className = "quality-head";
      head.textContent = r.call_id + " · " + t("Score {score}", {score: r.score}) + " · " + (STATUSES()[r.status] || r.status) +
        (failed.length ? " · " + t("Critical item failed: {items}", {items: failed.join(", ")}) : "");
      li.appendChild(head);
      if (failed.length) li.className = "alarm";
      const notes = Object.entries(r.comments || {}).map(([k, v]) => (k ? (names[k] || k) + ": " : "") + v);
      if (r.resolution) notes.push(t("Resolution: {text}", {text: r.resolution}));
      for (const n of notes) { const p = document.createElement("div"); p.textContent = n; li.appendChild(p); }
      if (r.status === "scored") {
        const ack = document.createElement("button"); ack.type = "button"; ack.textContent = t("Acknowledge");
        ack.className = "quality-ack";
        ack.addEventListener("click", () => reply(r.call_id, "acknowledged", ""));
        const why = document.createElement("input"); why.maxLength = 2000; why.placeholder = t("Why you dispute it");
        why.className = "quality-why"; why.dataset.call = r.call_id; why.value = typed[r.call_id] || "";
        const dis = document.createElement("button"); dis.type = "button"; dis.textContent = t("Dispute");
        dis.className = "quality-dispute";
        dis.addEventListener("click", () => reply(r.call_id, "disputed", why.value));
        li.append(ack, " ", why, " ", dis);
      }
      ul.appendChild(li);
      if (focused === r.call_id) li.querySelector("input.quality-why").focus();
    }
  }
  async function refresh() {
    if ($("app").hidden || busy) return;
    busy = true;
    try {
      const data = await api("GET", "/quality/mine");
      const text = JSON.stringify(data);
      if (text !== shown) { shown = text; render(data); }
    } catch (e) { $("quality-box").hidden = true; shown = ""; }
    finally { busy = false; }
  }
  setInterval(refresh, 15000);
  return {refresh};
})();
