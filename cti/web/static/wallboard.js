// The supervisor wallboard: the figures arrive by server-sent events (/events, event
// "figures") whenever something changes; nothing here polls the engine.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const STATES = {"ready": "就緒 Ready", "not-ready": "暫停 Paused", "offered": "振鈴 Ringing",
    "on-call": "通話 On call", "wrap-up": "話後 Wrap-up", "logged-out": "簽出 Out"};
  const WAITING_ROWS = 6, ALERT_ROWS = 3;  // what the board has room for without scrolling
  // Wall display (?display=wall): the figures only, no controls, larger type, for a screen
  // on the wall; the supervisor's own screen keeps the controls.
  if (new URLSearchParams(location.search).get("display") === "wall") document.body.classList.add("display");
  const ORDER = {"offered": 0, "on-call": 1, "wrap-up": 2, "ready": 3, "not-ready": 4, "logged-out": 5};
  let me = null, source = null, figures = null, skew = 0;

  const fmt = CtiPage.duration, pct = CtiPage.percent;
  // Running timers (a wait, time in state, a call) tick every second from one clock: the
  // figures' own time (doc.at) plus what has passed since, not only when figures arrive.
  function ticking(el, seconds) {
    if (seconds === null || seconds === undefined) { el.textContent = "—"; return el; }
    el.dataset.base = String(seconds); el.dataset.at = String(figures.at); el.classList.add("tick");
    el.textContent = fmt(seconds); return el;
  }
  function tick() {
    const now = Date.now() / 1000 + skew;
    for (const el of document.querySelectorAll(".tick")) {
      el.textContent = fmt(Number(el.dataset.base) + Math.max(0, now - Number(el.dataset.at)));
    }
  }
  const FIGURES = {"service_level": "服務水平 SL", "abandon_rate": "放棄率 Abandon", "longest_wait_s": "最長等待 Longest wait",
    "waiting_per_agent": "每坐席等待 Waiting per agent"};
  const api = CtiPage.api, showSignIn = CtiPage.showSignIn;
  async function start() {
    try { me = await api("GET", "/auth/me"); } catch (e) { showSignIn(); return; }
    if (["supervisor", "admin"].indexOf(me.role) < 0) { $("signin-error").textContent = "需要班長帳號 A supervisor account is needed"; showSignIn(); return; }
    $("signin").hidden = true; $("app").hidden = false; $("me").textContent = me.name;
    follow();
    try { render(await api("GET", "/wallboard/live")); } catch (e) { /* the stream brings it */ }
  }
  function follow() {
    if (source) source.close();
    source = new EventSource("/events");
    source.addEventListener("figures", (ev) => render(JSON.parse(ev.data)));
    source.addEventListener("alert", (ev) => alert(JSON.parse(ev.data)));
    source.onopen = () => { $("connection").textContent = ""; };
    source.onerror = () => {
      $("connection").textContent = "連線中斷，重新連線中 Reconnecting…";
      if (source.readyState === EventSource.CLOSED) setTimeout(() => { api("GET", "/auth/me").then(follow, () => {}); }, 2000);
    };
  }
  function cell(tr, text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); return td; }
  function tile(name, q) {
    const w = q.windows.day, h = q.windows["15m"];
    const div = document.createElement("div");
    div.className = "tile state-" + (q.state || "ok");  // R13: the worst of its figures against [thresholds]
    div.id = "queue-" + name;
    const rows = [
      ["等待 Waiting", q.waiting, "waiting"], ["最長等待 Longest", q.waiting ? {tick: q.longest_wait_s} : fmt(0), "longest"],
      ["服務水平 SL (15m)", pct(h.service_level), "sl"], ["平均應答 ASA", fmt(w.asa_s), "asa"],
      ["接通率 Answer rate", pct(w.answer_rate), "answer-rate"], ["放棄率 Abandon", pct(w.abandon_rate), "abandon-rate"],
      ["今日 Offered / Answered / Abandoned", w.offered + " / " + w.answered + " / " + w.abandoned, "today"],
      ["預約回電 Callbacks waiting / today", (q.callbacks_waiting || 0) + " / " + (q.callbacks_total || 0), "callbacks"],
      ["外撥接通率 Connect rate", q.connect_rate === null || q.connect_rate === undefined ? "—" : pct(q.connect_rate), "connect-rate"],
      ["需要 / 在崗 Needed / Staffed", (h.agents_needed === null ? "—" : h.agents_needed) + " / " + staffed(name), "staffing"]];
    const h3 = document.createElement("h3"); h3.textContent = name; div.appendChild(h3);
    const figs = document.createElement("div"); figs.className = "figs"; div.appendChild(figs);
    const FIGURE = {"waiting": "waiting_per_agent", "longest": "longest_wait_s", "sl": "service_level", "abandon-rate": "abandon_rate"};
    for (const [label, value, key] of rows) {
      const p = document.createElement("p"); p.className = "fig fig-" + key;
      const t = FIGURE[key] && q.thresholds ? q.thresholds[FIGURE[key]] : null;
      if (t && t.state) p.className += " state-" + t.state;
      const l = document.createElement("span"); l.textContent = label;
      const v = document.createElement("b");
      if (value !== null && typeof value === "object") ticking(v, value.tick); else v.textContent = value;
      p.appendChild(l); p.appendChild(v); figs.appendChild(p);
    }
    return div;
  }
  function staffed(queue) {
    return figures.agent_list.filter((a) => a.queues.indexOf(queue) >= 0 && ["logged-out", "not-ready"].indexOf(a.state) < 0).length;
  }
  function render(doc) {
    figures = doc; skew = doc.at - Date.now() / 1000;
    const tiles = $("queues"); tiles.innerHTML = "";
    for (const [name, q] of Object.entries(doc.queues)) tiles.appendChild(tile(name, q));
    const waiting = $("waiting"); waiting.innerHTML = "";
    const longestFirst = doc.waiting_calls.sort((a, b) => b.waited_s - a.waited_s);
    const shown = longestFirst.slice(0, WAITING_ROWS);  // the longest waits; the rest counted below
    $("waiting-more").dataset.hidden = String(longestFirst.length - shown.length);
    for (const k of shown) {
      const tr = document.createElement("tr"); tr.className = k.emergency ? "emergency-row" : "";
      tr.dataset.call = k.call_id;
      cell(tr, k.caller || "—"); cell(tr, k.queue); cell(tr, (k.emergency ? "緊急 EMERGENCY " : "") + (k.callback ? "回電 Callback " : "") + (k.kind || "")); ticking(cell(tr, ""), k.waited_s);
      waiting.appendChild(tr);
    }
    const agents = $("agents"); agents.innerHTML = "";
    const list = doc.agent_list.slice().sort((a, b) => (ORDER[a.state] - ORDER[b.state]) || (b.in_state_s - a.in_state_s));
    for (const a of list) {  // one chip per agent: id, state, why, time in state, call time, calls today
      const chip = document.createElement("div");
      const hold = a.on_hold_s !== null && a.on_hold_s > (doc.hold_max_s[a.queues[0]] || 30);
      const rona = a.reason === "ring-no-answer";
      chip.className = "agent s-" + a.state + (hold || rona ? " alarm" : "");
      chip.id = "agent-" + a.agent_id;
      const line = (parts) => {
        const p = document.createElement("p");
        for (const [text, cls] of parts) {
          const sp = document.createElement("span"); sp.className = cls;
          if (text !== null && typeof text === "object") ticking(sp, text.tick); else sp.textContent = text;
          p.appendChild(sp);
        }
        chip.appendChild(p); return p;
      };
      line([[a.agent_id, "id"], [STATES[a.state] || a.state, "state"], [{tick: a.in_state_s}, "t"]]);
      line([[hold ? "保留超時 HOLD " + fmt(a.on_hold_s) : (rona ? "未應答 RONA" : (a.reason || "")), "why"],
            a.call_s !== null ? [{tick: a.call_s}, "call"] : ["", "call"], [String(a.calls), "n"]]);
      listenCell(chip, a, (doc.listening || {})[a.call_id]);
      agents.appendChild(chip);
    }
    renderPlan(doc.plan); renderAlerts(doc); renderCampaigns(doc.campaigns || {});
    document.querySelector(".board").classList.toggle("no-side", $("plan-card").hidden && $("campaigns-card").hidden);
    fit();
    drawTrend(doc.trend, doc.sl_target);
    $("clock").textContent = new Date(doc.at * 1000).toLocaleTimeString([], {hour12: false});
  }
  const MODES = {"listen": "監聽 Listen", "whisper": "耳語 Whisper", "barge": "插話 Barge"};
  function listenCell(chip, a, session) {
    // A supervisor listens to an agent's call, coaches it, joins it; switches; stops (audited).
    if (a.state !== "on-call" || !a.call_id) return;
    const td = document.createElement("p"); td.className = "listen operator"; chip.appendChild(td);
    for (const [mode, label] of Object.entries(MODES)) {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = label; b.id = "listen-" + mode + "-" + a.agent_id;
      b.disabled = !!session && session.mode === mode;
      b.addEventListener("click", () => listen("/calls/" + encodeURIComponent(a.call_id) + "/listen", {mode}));
      td.appendChild(b);
    }
    if (session) {
      const b = document.createElement("button");
      b.type = "button"; b.className = "quiet"; b.textContent = "停止 Stop"; b.id = "listen-stop-" + a.agent_id;
      b.addEventListener("click", () => listen("/calls/" + encodeURIComponent(a.call_id) + "/listen/stop", {}));
      td.appendChild(b);
      td.appendChild(document.createTextNode(" " + (MODES[session.mode] || session.mode) + " · " + session.by));
    }
  }
  async function listen(path, body) {
    $("listen-error").textContent = "";
    try { await api("POST", path, body); } catch (e) { $("listen-error").textContent = e.message; }
  }
  function renderCampaigns(campaigns) {
    const ids = Object.keys(campaigns);
    $("campaigns-card").hidden = !ids.length;
    const body = $("campaigns"); body.innerHTML = "";
    for (const id of ids) {
      const k = campaigns[id], tr = document.createElement("tr");
      cell(tr, k.name); cell(tr, k.status);
      for (const st of ["scheduled", "queued", "done", "closed"]) cell(tr, String(k[st] || 0));
      body.appendChild(tr);
    }
  }
  function renderAlerts(doc) {
    const box = $("alerts"); box.innerHTML = "";
    const items = [];
    if (doc.recording_coverage !== null && doc.recording_coverage !== undefined && doc.recording_coverage < 1)
      items.push("錄音覆蓋率 Recording coverage " + pct(doc.recording_coverage) + " (R4)");
    if (doc.work_orders && doc.work_orders.overdue > 0) items.push("逾期工單 Overdue work orders: " + doc.work_orders.overdue + " (R12)");
    const em = doc.waiting_calls.filter((k) => k.emergency).length;
    if (em) items.push("緊急來電等待中 Emergency calls waiting: " + em + " (R8)");
    const crossed = [];  // R13: queue figures past their thresholds, red first
    for (const [name, q] of Object.entries(doc.queues))
      for (const [figure, t] of Object.entries(q.thresholds || {}))
        if (t.state === "red" || t.state === "amber") crossed.push([name, figure, t]);
    crossed.sort((a, b) => (a[2].state === "red" ? 0 : 1) - (b[2].state === "red" ? 0 : 1));
    const limits = [];
    for (const [name, figure, t] of crossed) {
      const value = figure.endsWith("_s") ? fmt(t.value) : (figure === "waiting_per_agent" ? (t.value === null ? "∞" : t.value.toFixed(1)) : pct(t.value));
      const limit = figure.endsWith("_s") ? fmt(t[t.state]) : (figure === "waiting_per_agent" ? String(t[t.state]) : pct(t[t.state]));
      limits.push([(t.state === "red" ? "紅 RED " : "黃 AMBER ") + name + " · " + (FIGURES[figure] || figure) + " " + value + " (" + limit + ")", "alert threshold-" + t.state]);
    }
    for (const a of doc.alerts.slice(-5).reverse()) items.push(describe(a));
    const all = limits.concat(items.map((t) => [t, "alert"]));
    for (const [text, cls] of all.slice(0, ALERT_ROWS)) {
      const p = document.createElement("p"); p.className = cls; p.textContent = text; box.appendChild(p);
    }
    if (all.length > ALERT_ROWS) {
      const p = document.createElement("p"); p.className = "alert more"; p.textContent = "+" + (all.length - ALERT_ROWS) + " 更多警示 more alerts"; box.appendChild(p);
    }
  }
  function describe(a) {
    switch (a.type) {
      case "RingNoAnswer": return "未應答 RONA: " + a.agent_id;
      case "HoldOverrun": return "保留超時 Hold overrun: " + a.agent_id + " " + fmt(a.held_s) + " (R3)";
      case "NotifyEmergency": return "緊急來電 Emergency call (R8) " + a.queue;
      case "WorkOrderOverdue": return "工單逾期 Work order overdue: " + a.order_id + " · " + a.department;
      default: return a.type + " " + (a.agent_id || "");
    }
  }
  function alert(a) { if (figures) { figures.alerts.push(a); renderAlerts(figures); } }
  // The plan's reason in words (the engine writes both languages).
  const why = (c) => [c.reason_zh, c.reason].filter((t, i, all) => t && all.indexOf(t) === i).join(" · ");
  function renderPlan(plan) {
    const card = $("plan-card");
    card.hidden = !plan;
    if (!plan) return;
    $("plan-level").textContent = plan.level || "無 None";
    $("plan-proposed").textContent = plan.proposed || "—";
    $("btn-plan-confirm").disabled = !plan.proposed;
    const last = plan.changes.length ? plan.changes[plan.changes.length - 1] : null;
    $("plan-why").textContent = last ? why(last) : "";
    const ul = $("plan-changes"); ul.innerHTML = "";
    for (const c of plan.changes.slice(-5).reverse()) {
      const li = document.createElement("li");
      li.textContent = new Date(c.at * 1000).toLocaleTimeString([], {hour12: false}) + " · " + c.type + " " + (c.level || c.to || "") + " · " + (c.by || "") + " " + why(c);
      ul.appendChild(li);
    }
  }
  // The board never scrolls: where a panel has less room than its content, its list keeps
  // the rows that fit (the rest counted: "+N more") and the agents' chips go to one line.
  function overflows(el) { return el.scrollHeight > el.clientHeight + 1; }
  function fit() {
    const agents = $("agents"), agentsCard = $("agents-card");
    agents.classList.remove("compact");
    if (overflows(agentsCard)) agents.classList.add("compact");
    const card = $("waiting-card"), rows = $("waiting"), more = $("waiting-more");
    let hidden = Number(more.dataset.hidden || 0);
    while (overflows(card) && rows.lastElementChild) { rows.lastElementChild.remove(); hidden += 1; }
    more.textContent = hidden ? "+" + hidden + " 更多 more" : "";
    const box = $("alerts");
    let dropped = 0;
    while (box.getBoundingClientRect().height > innerHeight * 0.15 && box.children.length > 1) {
      box.lastElementChild.remove(); dropped += 1;
    }
    if (dropped) { const p = document.createElement("p"); p.className = "alert more"; p.textContent = "+" + dropped + " 更多警示 more alerts"; box.appendChild(p); }
  }
  window.addEventListener("resize", () => { if (figures) render(figures); });
  function drawTrend(points, target) {  // R13: waiting calls and SL over 4 hours, with axes and the target
    if (!points || !points.length) return;
    CtiCharts.trend($("trend"), points, target);
  }
  async function plan(path, body) {
    $("plan-error").textContent = "";
    try { await api("POST", path, body); } catch (e) { $("plan-error").textContent = e.message; }
  }
  $("btn-plan-confirm").addEventListener("click", () => plan("/plan/confirm", {}));
  $("btn-plan-set").addEventListener("click", () => plan("/plan/level", {level: $("plan-select").value || null, reason: $("plan-reason").value}));
  CtiPage.setup(start, () => { if (source) { source.close(); source = null; } });
  setInterval(() => {
    if (!figures) return;
    $("clock").textContent = new Date(Date.now() + skew * 1000).toLocaleTimeString([], {hour12: false});
    tick();
  }, 1000);
  start();
})();
