// The quality inspection page: the sampled calls (GET /quality/inspections), one opened
// with its recording played in the page (an audited route), its record, disposition and
// work order, scored on the form (POST .../score); disputes resolved by a supervisor;
// the report per agent and the weakest items (GET /quality/report, CSV too).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const t = CtiPage.t, word = CtiPage.word, api = CtiPage.api;
  let me = null, form = null, current = null;
  const REASONS = () => ({"complaint": t("Complaint"), "hold-overrun": t("Hold overrun"), "rona": t("No answer (RONA)"),
    "low-score": t("Low survey score"), "sample": t("Share of calls"), "manual": t("Picked by hand")});
  const STATUSES = () => ({"pending": t("To inspect"), "scored": t("Scored"), "acknowledged": t("Acknowledged"),
    "disputed": t("Disputed"), "resolved": t("Resolved")});
  function cell(tr, text) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); return td; }
  function today() {
    const d = new Date(); d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
    return d.toISOString().slice(0, 10);
  }
  function fail(e) { $("action-error").textContent = e.message; }
  async function list() {
    $("action-error").textContent = "";
    const status = $("q-status").value;
    let rows;
    try { rows = await api("GET", "/quality/inspections" + (status ? "?status=" + status : "")); } catch (e) { fail(e); return; }
    const body = $("inspections"); body.innerHTML = "";
    for (const r of rows) {
      const tr = document.createElement("tr");
      tr.id = "row-" + r.call_id;
      [r.call_id, r.agent_id, r.queue || "", word("kind", r.kind), REASONS()[r.reason] || r.reason,
       STATUSES()[r.status] || r.status, r.score === null ? "—" : String(r.score)].forEach((v) => cell(tr, v));
      const b = document.createElement("button"); b.type = "button"; b.textContent = t("Open");
      b.className = "open-inspection"; b.dataset.call = r.call_id;
      b.addEventListener("click", () => open(r.call_id));
      cell(tr, "").appendChild(b);
      if (r.critical_failed && r.critical_failed.length) tr.className = "alarm";
      body.appendChild(tr);
    }
  }
  function renderForm(marks) {
    const box = $("form-items"); box.innerHTML = "";
    for (const s of form.sections) {
      const h = document.createElement("h3"); h.textContent = s.name; box.appendChild(h);
      for (const i of s.items) {
        const label = document.createElement("label");
        const span = document.createElement("span");
        span.textContent = i.label + " (0–" + i.points + (i.weight !== 1 ? ", ×" + i.weight : "") + ")" +
          (i.critical ? " · " + t("Critical") : "");
        const input = document.createElement("input");
        input.type = "number"; input.min = "0"; input.max = String(i.points); input.id = "mark-" + i.item_id;
        input.value = String(marks && marks[i.item_id] !== undefined ? marks[i.item_id] : i.points);
        const note = document.createElement("input");
        note.id = "note-" + i.item_id; note.maxLength = 2000; note.placeholder = t("Comment");
        label.append(span, " ", input, " ", note);
        box.appendChild(label);
      }
    }
  }
  function marks() {
    const m = {}, notes = {};
    for (const s of form.sections) for (const i of s.items) {
      m[i.item_id] = parseInt($("mark-" + i.item_id).value, 10);
      const n = $("note-" + i.item_id).value.trim(); if (n) notes[i.item_id] = n;
    }
    if ($("comment-all").value.trim()) notes[""] = $("comment-all").value.trim();
    return {marks: m, comments: notes};
  }
  function dd(dl, label, value) {
    const dt = document.createElement("dt"); dt.textContent = label;
    const d = document.createElement("dd"); d.textContent = value; dl.append(dt, d);
  }
  async function open(callId) {
    $("action-error").textContent = ""; $("score-result").textContent = "";
    let x;
    try { x = await api("GET", "/quality/inspections/" + encodeURIComponent(callId)); } catch (e) { fail(e); return; }
    current = x;
    $("inspection").hidden = false;
    $("i-call").textContent = x.call_id; $("i-agent").textContent = x.agent_id;
    $("i-status").textContent = STATUSES()[x.status] || x.status;
    $("player").src = "/quality/inspections/" + encodeURIComponent(x.call_id) + "/recording";
    $("player").load();
    const dl = $("i-record"); dl.innerHTML = "";
    const r = x.record;
    if (r) {
      dd(dl, t("Caller"), r.caller); dd(dl, t("Queue"), r.queue); dd(dl, t("Kind"), word("kind", r.kind));
      dd(dl, t("Waited"), CtiPage.duration(r.waited_s)); dd(dl, t("Talk"), CtiPage.duration(r.talked_s));
      dd(dl, t("Hold"), CtiPage.duration(r.held_s)); dd(dl, t("Hold overrun"), String(r.hold_overruns));
      dd(dl, t("RONA"), String(r.rona)); dd(dl, t("Why sampled"), REASONS()[x.reason] || x.reason);
    }
    const ds = $("i-dispositions"); ds.innerHTML = "";
    for (const d of x.dispositions) {
      const li = document.createElement("li");
      li.textContent = word("kind", d.kind) + " · " + Object.values(d.fields).filter(Boolean).join(" · ");
      ds.appendChild(li);
    }
    const os = $("i-orders"); os.innerHTML = "";
    for (const o of x.work_orders) {
      const li = document.createElement("li");
      li.textContent = o.order_id + " · " + word("kind", o.kind) + " · " + o.department + " · " + word("status", o.status);
      os.appendChild(li);
    }
    renderForm(x.marks);
    $("comment-all").value = (x.comments && x.comments[""]) || "";
    $("btn-score").disabled = x.status !== "pending";
    if (x.status !== "pending") {
      $("score-result").textContent = t("Score {score}", {score: x.score}) +
        (x.critical_failed && x.critical_failed.length ? " · " + t("Critical item failed") : "");
    }
    $("dispute-box").hidden = x.status !== "disputed";
    $("dispute-text").textContent = x.reply || "";
  }
  async function scoreIt() {
    $("action-error").textContent = "";
    try {
      const done = await api("POST", "/quality/inspections/" + encodeURIComponent(current.call_id) + "/score", marks());
      $("score-result").textContent = t("Score {score}", {score: done.score}) +
        (done.critical_failed.length ? " · " + t("Critical item failed") : "");
      $("btn-score").disabled = true;
      $("i-status").textContent = STATUSES()[done.status];
      list();
    } catch (e) { fail(e); }
  }
  async function resolveIt() {
    $("action-error").textContent = "";
    const decision = $("r-decision").value;
    const body = {decision, comment: $("r-comment").value};
    if (decision === "rescored") body.marks = marks().marks;
    try {
      const done = await api("POST", "/quality/inspections/" + encodeURIComponent(current.call_id) + "/resolve", body);
      $("dispute-box").hidden = true; $("i-status").textContent = STATUSES()[done.status];
      $("score-result").textContent = t("Score {score}", {score: done.score});
      list();
    } catch (e) { fail(e); }
  }
  async function report() {
    const q = new URLSearchParams({from: $("r-from").value, to: $("r-to").value});
    $("dl-agents").href = "/quality/report?" + q + "&format=csv&table=agents";
    $("dl-items").href = "/quality/report?" + q + "&format=csv&table=items";
    let r;
    try { r = await api("GET", "/quality/report?" + q); } catch (e) { fail(e); return; }
    const a = $("report-agents"); a.innerHTML = "";
    for (const x of r.agents) {
      const tr = document.createElement("tr");
      [x.agent, x.inspections, x.mean_score === null ? "—" : x.mean_score, x.critical_failures, x.disputed]
        .forEach((v) => cell(tr, String(v)));
      a.appendChild(tr);
    }
    const w = $("report-items"); w.innerHTML = "";
    for (const x of r.weakest_items) {
      const tr = document.createElement("tr");
      [x.label, CtiPage.percent(x.mean_share), x.inspections].forEach((v) => cell(tr, String(v)));
      w.appendChild(tr);
    }
  }
  async function start() {
    try { me = await api("GET", "/auth/me"); } catch (e) { CtiPage.showSignIn(); return; }
    if (["inspector", "supervisor", "admin"].indexOf(me.role) < 0) {
      $("signin-error").textContent = t("An inspector or supervisor account is needed"); CtiPage.showSignIn(); return;
    }
    $("signin").hidden = true; $("app").hidden = false; $("me").textContent = CtiPage.displayName(me);
    if (me.role === "supervisor") $("q-status").value = "disputed";
    $("resolve-form").hidden = ["supervisor", "admin"].indexOf(me.role) < 0;
    try { form = await api("GET", "/quality/form"); } catch (e) { fail(e); return; }
    if (!$("r-from").value) { $("r-from").value = today(); $("r-to").value = today(); }
    await list();
    report();
  }
  $("filter").addEventListener("submit", (ev) => { ev.preventDefault(); list(); });
  $("btn-sample").addEventListener("click", async () => {
    try { await api("POST", "/quality/sample", {}); } catch (e) { fail(e); return; }
    list();
  });
  $("btn-pick").addEventListener("click", async () => {
    try { await api("POST", "/quality/picks", {call_id: $("pick-call").value.trim()}); } catch (e) { fail(e); return; }
    $("q-status").value = "pending"; list();
  });
  $("score-form").addEventListener("submit", (ev) => { ev.preventDefault(); scoreIt(); });
  $("resolve-form").addEventListener("submit", (ev) => { ev.preventDefault(); resolveIt(); });
  $("report-query").addEventListener("submit", (ev) => { ev.preventDefault(); report(); });
  CtiPage.setup(start, () => { me = null; $("player").removeAttribute("src"); });
  start();
})();
