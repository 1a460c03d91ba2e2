// What the pages share: API calls with the session (and its CSRF token), the sign-in
// form and the sign-out button. A page calls CtiPage.setup(start, stop): start after a
// sign-in, stop when the session is gone (a 401) or signed out.
// Words: CtiPage.t, an English text as the id and {name} placeholders filled, from the
// page's catalogue (the server puts the locale's messages on <body data-messages>,
// cti/web/i18n.py); the values people see (states, kinds, statuses, outcomes, errors)
// through the maps below; times in the locale.
"use strict";
window.CtiPage = (function () {
  const $ = (id) => document.getElementById(id);
  let stop = () => {};
  const LOCALE = document.body.dataset.locale || document.documentElement.lang || "zh-CN";
  let MESSAGES = {};
  try { MESSAGES = JSON.parse(document.body.dataset.messages || "{}"); } catch (e) { MESSAGES = {}; }
  function t(id, values) {
    const text = MESSAGES[id] || id;
    return values ? text.replace(/\{(\w+)\}/g, (m, k) => (values[k] === undefined ? m : String(values[k]))) : text;
  }
  // The language selectors (header, sign-in): the choice kept in a cookie, the page reloaded in it.
  for (const sel of document.querySelectorAll(".lang-select")) {
    sel.addEventListener("change", () => {
      document.cookie = "cti-lang=" + encodeURIComponent(sel.value) + "; path=/; max-age=31536000; SameSite=Lax";
      const url = new URL(location.href); url.searchParams.delete("lang"); location.replace(url.toString());
    });
  }
  // Times of day and dates in the page's locale, 24-hour.
  const time = (at, opts) => new Date(at * 1000).toLocaleTimeString(LOCALE, {hour12: false, ...(opts || {})});
  const shortTime = (at) => time(at, {hour: "2-digit", minute: "2-digit"});
  // The values the API gives as names, as people read them (an unknown one as it is).
  const VALUES = () => ({
    state: {"ready": t("Ready"), "not-ready": t("Paused"), "offered": t("Ringing"), "on-call": t("On call"),
      "wrap-up": t("Wrap-up"), "logged-out": t("Logged out")},
    pause: {"break": t("Break"), "lunch": t("Lunch"), "training": t("Training"), "meeting": t("Meeting"),
      "coaching": t("Coaching"), "after-call-work": t("After-call work"), "other": t("Other"),
      "ring-no-answer": t("No answer (RONA)")},
    urgency: {"emergency": t("Emergency"), "high": t("High"), "normal": t("Normal"), "low": t("Low")},
    kind: {"consultation": t("Consultation"), "service-request": t("Service request"), "fault-report": t("Fault report"),
      "complaint": t("Complaint"), "suggestion": t("Suggestion"), "emergency": t("Emergency repair"),
      "return-visit": t("Return visit"), "complaint-feedback": t("Complaint feedback")},
    status: {"new": t("New"), "dispatched": t("Dispatched"), "accepted": t("Accepted"), "on-site": t("On site"),
      "done": t("Done"), "cancelled": t("Cancelled"), "active": t("Active"), "paused": t("Paused"),
      "closed": t("Closed"), "scheduled": t("Scheduled"), "queued": t("Queued")},
    complaint: {"received": t("Received"), "investigating": t("Investigating"), "result-given": t("Result given"),
      "accepted": t("Customer accepted"), "not-satisfied": t("Not satisfied"), "closed": t("Closed")},
    level: {"owner": t("Owner"), "supervisor": t("Supervisor"), "manager": t("Manager")},
    outcome: {"handled": t("Handled"), "abandoned": t("Abandoned"), "transferred": t("Transferred"),
      "transfer": t("Transferred"), "rejected": t("Rejected"), "satisfied": t("Satisfied"),
      "not-solved": t("Not solved"), "no-answer": t("No answer"), "wrong-number": t("Wrong number"),
      "do-not-call": t("Do not call")},
    error: {"unknown-agent": t("No such agent"), "not-found": t("Not found"),
      "conflict": t("Not possible in the current state"), "invalid-transition": t("Not possible in the current state"),
      "bad-request": t("The request was refused: check the fields"), "store-unavailable": t("The store is unavailable; try again"),
      "transfer-refused": t("The transfer was refused"), "refused": t("Refused"), "integrity": t("Refused"),
      "unauthorized": t("Wrong name or secret, or the session has ended"), "forbidden": t("Your role does not allow this"),
      "unsupported-media-type": t("Refused"), "not-configured": t("Not configured on this site"),
      "not-routing": t("This engine is on standby; try again"), "overloaded": t("The engine is busy; try again"),
      "too-large": t("Too large"), "too-many": t("Too many attempts; wait a minute")},
  });
  let values = null;
  function word(kind, name, fallback) {  // value(kind, name): a state, pause, kind, status, outcome as a word
    if (name === null || name === undefined || name === "") return fallback === undefined ? "" : fallback;
    values = values || VALUES();
    return values[kind][name] || fallback || name;
  }
  // An API error as the person reads it: the message for its code in the page's language
  // (the server's own text, in English, where the page is English or the code is unknown).
  function errorText(data, status) {
    const mapped = data.error ? word("error", data.error, "") : "";
    if (LOCALE === "en" && data.message) return data.message;
    return mapped || data.message || t("Request failed (HTTP {status})", {status});
  }
  // The signed-in person as people name them (/auth/me's display_name: the account or agent
  // without its prefix); another identity the engine names (a listener, who set a plan level) likewise.
  const displayName = (me) => (me.display_name || me.agent_id || String(me.name || "").replace(/^(account|agent|token):/, ""));
  function showSignIn() {
    stop();
    $("app").hidden = true; $("signin").hidden = false;
  }
  async function api(method, path, body) {
    const headers = {"X-CTI-Page": "1"};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const csrf = sessionStorage.getItem("cti-csrf");
    if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
    const resp = await fetch(path, {method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)});
    const data = await resp.json().catch(() => ({}));
    if (resp.status === 401) showSignIn();
    if (!resp.ok) {  // the code and the fields at fault go with it, for a page to place them
      const err = new Error(errorText(data, resp.status));
      err.code = data.error || ""; err.fields = data.fields || {};
      throw err;
    }
    return data;
  }
  // ``beforeSignOut``: what the page must do while still signed in (the desk sends the
  // drafts it has not sent yet, then forgets them in this browser).
  function setup(start, onStop, beforeSignOut) {
    stop = onStop || (() => {});
    $("signin-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      $("signin-error").textContent = "";
      try {
        const r = await api("POST", "/auth/login", {name: $("signin-name").value, secret: $("signin-secret").value});
        sessionStorage.setItem("cti-csrf", r.csrf_token);
        $("signin-secret").value = "";
        start();
      } catch (e) { $("signin-error").textContent = e.message; }
    });
    $("btn-signout").addEventListener("click", async () => {
      if (beforeSignOut) { try { await beforeSignOut(); } catch (e) { /* signing out all the same */ } }
      try { await api("POST", "/auth/logout", {}); } catch (e) { /* signed out anyway */ }
      sessionStorage.removeItem("cti-csrf"); showSignIn();
    });
  }
  // Durations as h:mm:ss (m:ss under an hour), ratios as whole percents; "—" where a
  // figure has nothing under it (the API's null: nothing offered, nothing answered).
  function duration(s) {
    if (s === null || s === undefined || isNaN(s)) return "—";
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(r).padStart(2, "0");
  }
  const percent = (x) => (x === null || x === undefined || isNaN(x)) ? "—" : Math.round(x * 100) + "%";
  return {$, api, showSignIn, setup, duration, percent, t, word, time, shortTime, displayName, locale: LOCALE};
})();
