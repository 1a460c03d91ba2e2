// What the pages share: API calls with the session (and its CSRF token), the sign-in
// form and the sign-out button. A page calls CtiPage.setup(start, stop): start after a
// sign-in, stop when the session is gone (a 401) or signed out.
"use strict";
window.CtiPage = (function () {
  const $ = (id) => document.getElementById(id);
  let stop = () => {};
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
    if (!resp.ok) throw new Error(data.message || ("HTTP " + resp.status));
    return data;
  }
  function setup(start, onStop) {
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
  return {$, api, showSignIn, setup, duration, percent};
})();
