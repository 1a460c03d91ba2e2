// The pages' charts, drawn by uPlot (vendored: cti/web/static/vendored.json): axes with
// their scales and times or period labels, a legend with the values under the cursor,
// a target line where a figure has one, and value labels on bars when they are few.
// Each chart keeps on its element what its axes last drew (data-x-labels, data-y-labels):
// the labels uPlot asked us for and painted, for the browser tests and for screen readers.
"use strict";
window.CtiCharts = (function () {
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  const AXIS = () => ({stroke: css("--muted"), grid: {stroke: "rgba(138,160,180,0.15)", width: 1},
    ticks: {stroke: "rgba(138,160,180,0.3)", width: 1}, font: "12px sans-serif"});

  function remember(el, key, labels) {
    el.dataset[key] = JSON.stringify(labels.filter((v) => v !== null && v !== ""));
    el.setAttribute("aria-label", (el.dataset.title || "") + " " + el.dataset.xLabels + " " + (el.dataset.yLabels || ""));
  }
  function sized(el, height) {
    return {width: Math.max(300, el.clientWidth || el.parentElement.clientWidth || 600), height};
  }
  function keep(el, chart) {  // one chart per element; redrawn in place, resized with its box
    if (el._chart) el._chart.destroy();
    el._chart = chart;
    if (!el._observer && window.ResizeObserver) {
      el._observer = new ResizeObserver(() => {
        if (el._chart) el._chart.setSize(sized(el, el.dataset.fill ? Math.max(110, Math.min(220, el.clientHeight - 34)) : el._chart.height));
      });
      el._observer.observe(el);
    }
  }

  // Waiting calls (left axis, whole calls from 0) and service level (right axis, 0-100 %,
  // with the target as a dashed line) over time: points [{at, waiting, service_level}].
  function trend(el, points, target) {
    const xs = points.map((p) => p.at), waiting = points.map((p) => p.waiting);
    const sl = points.map((p) => (p.service_level === null || p.service_level === undefined) ? null : p.service_level * 100);
    const goal = points.map(() => (target === null || target === undefined) ? null : target * 100);
    const time = (u, splits) => {
      const labels = splits.map((t) => CtiPage.shortTime(t));
      remember(el, "xLabels", labels); return labels;
    };
    const calls = (u, splits) => { const labels = splits.map((v) => Number.isInteger(v) ? String(v) : ""); remember(el, "yLabels", labels); return labels; };
    const opts = {
      ...sized(el, Math.max(110, Math.min(220, el.clientHeight - 34))),  // the room its panel gives it, less the legend
      // the last four hours up to the newest point, whatever the points cover
      scales: {x: {time: true, range: () => [xs[xs.length - 1] - 4 * 3600, xs[xs.length - 1]]}, calls: {range: (u, min, max) => [0, Math.max(4, Math.ceil(max))]}, pct: {range: [0, 100]}},
      axes: [{...AXIS(), values: time},
        {...AXIS(), scale: "calls", label: el.dataset.waitingLabel || CtiPage.t("Waiting"), values: calls, size: 40},
        {...AXIS(), scale: "pct", side: 1, label: el.dataset.slLabel || CtiPage.t("SL"), values: (u, s) => s.map((v) => v + "%"), grid: {show: false}, size: 50}],
      series: [{label: CtiPage.t("Time")},
        {label: el.dataset.waitingLabel || CtiPage.t("Waiting"), scale: "calls", stroke: css("--warn"), width: 2, value: (u, v) => v === null ? "—" : String(v)},
        {label: el.dataset.slLabel || CtiPage.t("SL"), scale: "pct", stroke: css("--ok"), width: 2, spanGaps: false, value: (u, v) => v === null ? "—" : Math.round(v) + "%"},
        {label: el.dataset.targetLabel || CtiPage.t("Target"), scale: "pct", stroke: css("--ok"), width: 1, dash: [6, 4], points: {show: false}, value: (u, v) => v === null ? "—" : Math.round(v) + "%"}],
      legend: {live: true},
    };
    keep(el, new uPlot(opts, [xs, waiting, sl, goal], el));
  }

  // Offered and answered calls per period, as bars side by side, labelled by period (the
  // x axis) and, when there are 24 periods or fewer, with their values above the bars.
  function bars(el, periods, series) {
    const xs = periods.map((_, i) => i);
    const label = (u, splits) => {
      const labels = splits.map((i) => Number.isInteger(i) && periods[i] !== undefined ? periods[i] : "");
      remember(el, "xLabels", labels); return labels;
    };
    const counts = (u, splits) => { const labels = splits.map((v) => Number.isInteger(v) ? String(v) : ""); remember(el, "yLabels", labels); return labels; };
    // Two series side by side: the first ends at the period's mark, the second starts there
    // (uPlot's bar alignment); each bar 0.4 of a period wide, a gap between periods.
    const few = periods.length <= 24, W = 0.4;
    const drawValues = (u) => {
      if (!few) return;
      const ctx = u.ctx; ctx.save(); ctx.fillStyle = css("--fg"); ctx.font = (12 * devicePixelRatio) + "px sans-serif"; ctx.textAlign = "center";
      // a bar is W of a period wide, at most 80 CSS pixels (as uPlot draws it)
      const bar = Math.min(W * Math.abs(u.valToPos(1, "x", true) - u.valToPos(0, "x", true)), 80 * devicePixelRatio);
      series.forEach((s, k) => s.values.forEach((v, i) => {
        if (!v) return;
        const x = u.valToPos(i, "x", true) + (k === 0 ? -bar / 2 : bar / 2), y = u.valToPos(v, "y", true);
        ctx.fillText(String(v), x, y - 4 * devicePixelRatio);
      }));
      ctx.restore();
    };
    const opts = {
      ...sized(el, 220),
      scales: {x: {time: false, range: [-0.5, Math.max(0.5, periods.length - 0.5)]}, y: {range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.15))]}},
      axes: [{...AXIS(), values: label, space: 60, grid: {show: false}},
        {...AXIS(), label: el.dataset.yLabel || CtiPage.t("Calls"), values: counts, size: 40}],
      series: [{label: CtiPage.t("Period"), value: (u, i) => periods[i] === undefined ? "—" : periods[i]}].concat(series.map((s, k) => ({
        label: s.label, fill: s.color, stroke: s.color, width: 0, points: {show: false},
        paths: uPlot.paths.bars({size: [W, 80], align: k === 0 ? -1 : 1}),
      }))),
      hooks: {draw: [drawValues]},
      legend: {live: true},
    };
    keep(el, new uPlot(opts, [xs].concat(series.map((s) => s.values)), el));
  }

  return {trend, bars, css};
})();
