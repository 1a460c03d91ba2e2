// The supervisors' reports page (R13): the day by interval as a chart and tables, from
// GET /reports/queues and /reports/agents, and satisfaction (R17) from
// /reports/satisfaction; the same rows download as CSV.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const pct = CtiPage.percent, fmt = CtiPage.duration;
  const api = CtiPage.api, t = CtiPage.t;
  function today() {
    const d = new Date(); d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
    return d.toISOString().slice(0, 10);
  }
  function query(extra) {
    const p = new URLSearchParams({from: $("q-from").value, to: $("q-to").value, interval: $("q-interval").value});
    for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
    return p.toString();
  }
  function cell(tr, text) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); }
  function periodLabel(period, interval) {  // "2026-12-05T14:00:00+08:00" as the interval reads it
    const day = period.slice(5, 10), time = period.slice(11, 16);
    return {"15m": day + " " + time, "hour": day + " " + time, "day": day, "week": period.slice(0, 10), "month": period.slice(0, 7)}[interval] || period;
  }
  function chart(rows, interval) {  // R13: offered and answered per period, axes and labels by uPlot
    const byPeriod = new Map();
    for (const r of rows) {
      const x = byPeriod.get(r.period) || {offered: 0, answered: 0};
      x.offered += r.offered; x.answered += r.answered; byPeriod.set(r.period, x);
    }
    const items = [...byPeriod.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    CtiCharts.bars($("chart"), items.map(([p]) => periodLabel(p, interval)), [
      {label: $("chart").dataset.offeredLabel, color: CtiCharts.css("--warn"), values: items.map(([, x]) => x.offered)},
      {label: $("chart").dataset.answeredLabel, color: CtiCharts.css("--ok"), values: items.map(([, x]) => x.answered)}]);
  }
  async function load() {
    $("report-error").textContent = "";
    const by = $("q-by").value;
    $("dl-queues").href = "/reports/queues?" + query({by, format: "csv"});
    $("dl-agents").href = "/reports/agents?" + query({format: "csv"});
    $("dl-satisfaction").href = "/reports/satisfaction?" + query({by: $("sat-by").value, format: "csv"});
    $("dl-appraisal").href = "/reports/appraisal?" + query({format: "csv"});
    $("dl-queue-log").href = "/reports/queue_log?" + new URLSearchParams({from: $("q-from").value, to: $("q-to").value});
    try {
      const q = await api("GET", "/reports/queues?" + query({by}));
      const body = $("report-rows"); body.innerHTML = "";
      for (const r of q.rows) {
        const tr = document.createElement("tr");
        [r.period.slice(0, 16).replace("T", " "), r.queue || (r.kind ? CtiPage.word("kind", r.kind) : "—"), r.offered, r.answered, r.abandoned,
         pct(r.service_level), pct(r.answer_rate), fmt(r.asa_s), fmt(r.longest_wait_s), fmt(r.aht_s)]
          .forEach((v) => cell(tr, String(v)));
        body.appendChild(tr);
      }
      chart(q.rows, $("q-interval").value);
      const a = await api("GET", "/reports/agents?" + query());
      const ab = $("agent-rows"); ab.innerHTML = "";
      for (const r of a.rows) {
        const tr = document.createElement("tr");
        [r.period.slice(0, 16).replace("T", " "), r.agent, fmt(r.login_s), fmt(r.pause_s), r.answered, fmt(r.talk_s),
         pct(r.occupancy), r.rona].forEach((v) => cell(tr, String(v)));
        ab.appendChild(tr);
      }
      await satisfaction();
      await appraisal();
    } catch (e) { $("report-error").textContent = e.message; }
  }
  function satisfactionName(r, by) {  // the group's name as people read it
    if (by === "kind") return r.kind ? CtiPage.word("kind", r.kind) : "—";
    if (by === "source") return r.source === "visit" ? t("Return visit") : t("Call");
    return by === "all" ? "—" : (r[by] || "—");
  }
  async function satisfaction() {  // R17: surveys offered, responses, response rate, CSAT, mean score, solved
    const by = $("sat-by").value;
    const s = await api("GET", "/reports/satisfaction?" + query({by}));
    const body = $("satisfaction-rows"); body.innerHTML = "";
    for (const r of s.rows) {
      const tr = document.createElement("tr");
      [r.period.slice(0, 16).replace("T", " "), satisfactionName(r, by), r.offered, r.responses, pct(r.response_rate),
       pct(r.csat), r.mean_score === null ? "—" : r.mean_score.toFixed(2), pct(r.solved_rate)]
        .forEach((v) => cell(tr, String(v)));
      body.appendChild(tr);
    }
  }
  async function appraisal() {  // R13 with R17 and R18: per agent over the days
    const s = await api("GET", "/reports/appraisal?" + query());
    const body = $("appraisal-rows"); body.innerHTML = "";
    const num = (v) => (v === null || v === undefined ? "—" : Number(v).toFixed(v % 1 ? 1 : 0));
    for (const r of s.rows) {
      const tr = document.createElement("tr");
      [r.agent, r.answered, pct(r.occupancy), r.rona, r.hold_overruns, r.surveys, pct(r.csat),
       r.mean_score === null ? "—" : r.mean_score.toFixed(2), r.inspections, num(r.quality_score), r.critical_failures]
        .forEach((v) => cell(tr, String(v)));
      body.appendChild(tr);
    }
  }
  async function start() {
    let me;
    try { me = await api("GET", "/auth/me"); } catch (e) { CtiPage.showSignIn(); return; }
    if (["supervisor", "reader", "admin"].indexOf(me.role) < 0) {
      $("signin-error").textContent = CtiPage.t("A supervisor account is needed"); CtiPage.showSignIn(); return;
    }
    $("signin").hidden = true; $("app").hidden = false; $("me").textContent = CtiPage.displayName(me);
    if (!$("q-from").value) { $("q-from").value = today(); $("q-to").value = today(); }
    load();
  }
  $("query").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  $("sat-by").addEventListener("change", () => {
    $("dl-satisfaction").href = "/reports/satisfaction?" + query({by: $("sat-by").value, format: "csv"});
    satisfaction().catch((e) => { $("report-error").textContent = e.message; });
  });
  CtiPage.setup(start);
  start();
})();
