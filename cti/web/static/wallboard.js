// The supervisor wallboard: the figures arrive by server-sent events (/events, event
// "figures") whenever something changes; nothing here polls the engine.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const t = CtiPage.t, word = CtiPage.word;  // the page's words (cti/web/locale)
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
  const FIGURES = () => ({"service_level": t("SL"), "abandon_rate": t("Abandon rate"), "longest_wait_s": t("Longest wait"),
    "waiting_per_agent": t("Waiting per agent")});
  const api = CtiPage.api, showSignIn = CtiPage.showSignIn;
  async function start() {
    try { me = await api("GET", "/auth/me"); } catch (e) { showSignIn(); return; }
    if (["supervisor", "admin"].indexOf(me.role) < 0) { $("signin-error").textContent = t("A supervisor account is needed"); showSignIn(); return; }
    $("signin").hidden = true; $("app").hidden = false; $("me").textContent = CtiPage.displayName(me);
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
      $("connection").textContent = t("Reconnecting…");
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
      [t("Waiting"), q.waiting, "waiting"], [t("Longest wait"), q.waiting ? {tick: q.longest_wait_s} : fmt(0), "longest"],
      [t("SL (15 min)"), pct(h.service_level), "sl"], [t("ASA"), fmt(w.asa_s), "asa"],
      [t("Answer rate"), pct(w.answer_rate), "answer-rate"], [t("Abandon rate"), pct(w.abandon_rate), "abandon-rate"],
      [t("Today offered / answered / abandoned"), w.offered + " / " + w.answered + " / " + w.abandoned, "today"],
      [t("Callbacks waiting / today"), (q.callbacks_waiting || 0) + " / " + (q.callbacks_total || 0), "callbacks"],
      [t("Connect rate"), q.connect_rate === null || q.connect_rate === undefined ? "—" : pct(q.connect_rate), "connect-rate"],
      [t("Needed / staffed"), (h.agents_needed === null ? "—" : h.agents_needed) + " / " + staffed(name), "staffing"],
      [t("Satisfaction today: CSAT / mean / response rate"), satisfaction(name), "satisfaction"]];
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
  function satisfaction(queue) {  // R17: today's surveys after calls ("—" where none was answered)
    const s = (figures.satisfaction || {})[queue];
    if (!s || !s.offered) return "—";
    const mean = s.mean_score === null ? "—" : s.mean_score.toFixed(1);
    return (s.csat === null ? "—" : pct(s.csat)) + " / " + mean + " / " + pct(s.response_rate);
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
      cell(tr, k.caller || "—"); cell(tr, k.queue); cell(tr, (k.emergency ? t("EMERGENCY") + " " : "") + (k.callback ? t("Callback") + " " : "") + (k.kind ? word("kind", k.kind) : "")); ticking(cell(tr, ""), k.waited_s);
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
      line([[a.agent_id, "id"], [a.state === "logged-out" ? t("Out") : word("state", a.state), "state"]  /* short: a chip is narrow */, [{tick: a.in_state_s}, "t"]]);
      line([[hold ? t("Hold overrun") + " " + fmt(a.on_hold_s) : (rona ? t("No answer (RONA)") : word("pause", a.reason)), "why"],
            a.call_s !== null ? [{tick: a.call_s}, "call"] : ["", "call"], [String(a.calls), "n"]]);
      listenCell(chip, a, (doc.listening || {})[a.call_id]);
      agents.appendChild(chip);
    }
    renderPlan(doc.plan); renderAlerts(doc); renderCampaigns(doc.campaigns || {});
    document.querySelector(".board").classList.toggle("no-side", $("plan-card").hidden && $("campaigns-card").hidden);
    fit();
    drawTrend(doc.trend, doc.sl_target);
    $("clock").textContent = CtiPage.time(doc.at);
  }
  const MODES = () => ({"listen": t("Listen"), "whisper": t("Whisper"), "barge": t("Barge")});
  function listenCell(chip, a, session) {
    // A supervisor listens to an agent's call, coaches it, joins it; switches; stops (audited).
    if (a.state !== "on-call" || !a.call_id) return;
    const td = document.createElement("p"); td.className = "listen operator"; chip.appendChild(td);
    for (const [mode, label] of Object.entries(MODES())) {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = label; b.id = "listen-" + mode + "-" + a.agent_id;
      b.disabled = !!session && session.mode === mode;
      b.addEventListener("click", () => listen("/calls/" + encodeURIComponent(a.call_id) + "/listen", {mode}));
      td.appendChild(b);
    }
    if (session) {
      const b = document.createElement("button");
      b.type = "button"; b.className = "quiet"; b.textContent = t("Stop"); b.id = "listen-stop-" + a.agent_id;
      b.addEventListener("click", () => listen("/calls/" + encodeURIComponent(a.call_id) + "/listen/stop", {}));
      td.appendChild(b);
      td.appendChild(document.createTextNode(" " + (MODES()[session.mode] || session.mode) + " · " + CtiPage.displayName({name: session.by})));
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
      cell(tr, k.name); cell(tr, word("status", k.status));
      for (const st of ["scheduled", "queued", "done", "closed"]) cell(tr, String(k[st] || 0));
      body.appendChild(tr);
    }
  }
  function renderAlerts(doc) {
    const box = $("alerts"); box.innerHTML = "";
    const items = [];
    if (doc.recording_coverage !== null && doc.recording_coverage !== undefined && doc.recording_coverage < 1)
      items.push(t("Recording coverage {percent}", {percent: pct(doc.recording_coverage)}));
    if (doc.work_orders && doc.work_orders.overdue > 0) items.push(t("Overdue work orders: {n}", {n: doc.work_orders.overdue}));
    const em = doc.waiting_calls.filter((k) => k.emergency).length;
    if (em) items.push(t("Emergency calls waiting: {n}", {n: em}));
    const crossed = [];  // R13: queue figures past their thresholds, red first
    for (const [name, q] of Object.entries(doc.queues))
      for (const [figure, t] of Object.entries(q.thresholds || {}))
        if (t.state === "red" || t.state === "amber") crossed.push([name, figure, t]);
    crossed.sort((a, b) => (a[2].state === "red" ? 0 : 1) - (b[2].state === "red" ? 0 : 1));
    const limits = [];
    for (const [name, figure, x] of crossed) {
      const value = figure.endsWith("_s") ? fmt(x.value) : (figure === "waiting_per_agent" ? (x.value === null ? "∞" : x.value.toFixed(1)) : pct(x.value));
      const limit = figure.endsWith("_s") ? fmt(x[x.state]) : (figure === "waiting_per_agent" ? String(x[x.state]) : pct(x[x.state]));
      limits.push([(x.state === "red" ? t("RED") : t("AMBER")) + " " + name + " · " + (FIGURES()[figure] || figure) + " " + value + " (" + limit + ")", "alert threshold-" + x.state]);
    }
    for (const a of doc.alerts.slice(-5).reverse()) items.push(describe(a));
    const all = limits.concat(items.map((t) => [t, "alert"]));
    for (const [text, cls] of all.slice(0, ALERT_ROWS)) {
      const p = document.createElement("p"); p.className = cls; p.textContent = text; box.appendChild(p);
    }
    if (all.length > ALERT_ROWS) {
      const p = document.createElement("p"); p.className = "alert more"; p.textContent = t("+{n} more alerts", {n: all.length - ALERT_ROWS}); box.appendChild(p);
    }
  }
  function describe(a) {
    switch (a.type) {
      case "RingNoAnswer": return t("No answer (RONA): {agent}", {agent: a.agent_id});
      case "HoldOverrun": return t("Hold overrun: {agent} {time}", {agent: a.agent_id, time: fmt(a.held_s)});
      case "NotifyEmergency": return t("Emergency call: {queue}", {queue: a.queue});
      case "WorkOrderOverdue": return t("Work order overdue: {order} · {department}", {order: a.order_id, department: a.department});
      case "WorkOrderLateOnSite": return t("Nobody on site yet: {order} · {department}", {order: a.order_id, department: a.department});
      case "ComplaintOverdue": return t("Complaint feedback overdue: {order} · now with the {level}", {order: a.order_id, level: word("level", a.level)});
      default: return a.type + " " + (a.agent_id || "");
    }
  }
  function alert(a) { if (figures) { figures.alerts.push(a); renderAlerts(figures); } }
  // The plan's reason in the page's words, from what the core gave (reason_code, the figures
  // it saw, the thresholds that decided): "entered III: 4 waiting (entry at 3), ...".
  function why(c) {
    const code = c.reason_code, f = c.figures, x = c.thresholds || {};
    const byHand = {"proposal confirmed": t("proposal confirmed"), "set by hand": t("set by hand"),
      "ended by hand": t("ended by hand")};
    if (byHand[code]) return byHand[code];
    if (!f || (code !== "entry met" && code !== "exit met")) return (CtiPage.locale === "en" ? c.reason : c.reason_zh) || c.reason || "";
    const given = (v) => v !== null && v !== undefined;
    const parts = [];
    const add = (text, limit) => parts.push(limit ? t("{figure} ({limit})", {figure: text, limit}) : text);
    const waiting = t("{n} waiting", {n: f.waiting}), longest = t("longest wait {time}", {time: fmt(f.longest_wait_s)});
    const rate = t("answer rate {percent}", {percent: pct(f.answer_rate)});
    let head;
    if (code === "entry met") {
      head = c.type === "PlanProposed" ? t("proposed {level}", {level: c.level}) : t("entered {level}", {level: c.level});
      add(waiting, given(x.waiting_at_least) ? t("entry at {n}", {n: x.waiting_at_least}) : "");
      add(longest, given(x.longest_wait_at_least_s) ? t("entry at {time}", {time: fmt(x.longest_wait_at_least_s)}) : "");
      add(rate, given(x.answer_rate_below) ? t("entry below {percent}", {percent: pct(x.answer_rate_below)}) : "");
      if (f.overflows || given(x.overflows_at_least))
        add(t("{n} overflowed", {n: f.overflows}), given(x.overflows_at_least) ? t("entry at {n}", {n: x.overflows_at_least}) : "");
    } else {
      head = t("left {level}", {level: c.previous});
      add(waiting, given(x.waiting_at_most) ? t("exit at {n} or fewer", {n: x.waiting_at_most}) : "");
      add(longest, given(x.longest_wait_at_most_s) ? t("exit at {time} or less", {time: fmt(x.longest_wait_at_most_s)}) : "");
      add(rate, given(x.answer_rate_at_least) ? t("exit at {percent} or more", {percent: pct(x.answer_rate_at_least)}) : "");
    }
    return t("{head}: {figures}", {head, figures: parts.join(t(", "))});
  }
  const CHANGES = () => ({"PlanChanged": t("Level changed"), "PlanProposed": t("Level proposed")});
  function renderPlan(plan) {
    const card = $("plan-card");
    card.hidden = !plan;
    if (!plan) return;
    $("plan-level").textContent = plan.level || t("None");
    $("plan-proposed").textContent = plan.proposed || "—";
    $("btn-plan-confirm").disabled = !plan.proposed;
    const last = plan.changes.length ? plan.changes[plan.changes.length - 1] : null;
    $("plan-why").textContent = last ? why(last) : "";
    const ul = $("plan-changes"); ul.innerHTML = "";
    for (const c of plan.changes.slice(-5).reverse()) {
      const li = document.createElement("li");
      li.textContent = CtiPage.time(c.at) + " · " + (CHANGES()[c.type] || c.type) + " " + (c.level || c.to || "") + " · " + (c.by ? CtiPage.displayName({name: c.by}) : "") + " " + why(c);
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
    more.textContent = hidden ? t("+{n} more", {n: hidden}) : "";
    const box = $("alerts");
    let dropped = 0;
    while (box.getBoundingClientRect().height > innerHeight * 0.15 && box.children.length > 1) {
      box.lastElementChild.remove(); dropped += 1;
    }
    if (dropped) { const p = document.createElement("p"); p.className = "alert more"; p.textContent = t("+{n} more alerts", {n: dropped}); box.appendChild(p); }
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
    $("clock").textContent = CtiPage.time(Date.now() / 1000 + skew);
    tick();
  }, 1000);
  start();
})();
