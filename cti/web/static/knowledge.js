// The knowledge base's page for supervisors: the articles (GET /knowledge/search, expired
// and not yet valid ones too, marked), one written or edited (POST, PUT
// /knowledge/articles: with the version it was read at, so that two editors never
// overwrite each other) or retired (DELETE), with its edits; a closed work order made a
// case (POST /knowledge/cases); the opens per article and per agent (GET /knowledge/report).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const t = CtiPage.t, word = CtiPage.word, api = CtiPage.api;
  let me = null, current = null;
  const ACTIONS = () => ({"created": t("Created"), "edited": t("Edited"), "retired": t("Retired")});
  function cell(tr, text) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); return td; }
  function today() {
    const d = new Date(); d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
    return d.toISOString().slice(0, 10);
  }
  function fail(e) { $("action-error").textContent = e.message; }
  async function list() {
    $("action-error").textContent = "";
    const q = new URLSearchParams({q: $("kb-q").value.trim(), kind: $("kb-kind").value.trim(), limit: "100"});
    let rows;
    try { rows = await api("GET", "/knowledge/search?" + q); } catch (e) { fail(e); return; }
    const body = $("kb-articles"); body.innerHTML = "";
    for (const a of rows) {
      const tr = document.createElement("tr");
      tr.id = "article-" + a.article_id;
      [a.question, a.kind ? word("kind", a.kind) : "—", (a.tags || []).join(", "),
       (a.valid_from || "…") + " – " + (a.valid_to || "…"), a.current ? t("Valid now") : t("Not valid now")]
        .forEach((v) => cell(tr, v));
      const b = document.createElement("button"); b.type = "button"; b.textContent = t("Edit");
      b.className = "edit-article";
      b.addEventListener("click", () => edit(a.article_id));
      cell(tr, "").appendChild(b);
      if (!a.current) tr.className = "muted";
      body.appendChild(tr);
    }
  }
  function fill(a) {
    current = a;
    $("kb-editor").hidden = false; $("kb-saved").textContent = "";
    $("kb-editor-title").textContent = a ? t("Article {id}", {id: a.article_id}) : t("New article");
    $("a-question").value = a ? a.question : ""; $("a-answer").value = a ? a.answer : "";
    $("a-kind").value = a ? a.kind : ""; $("a-tags").value = a ? a.tags.join(", ") : "";
    $("a-from").value = a && a.valid_from ? a.valid_from : ""; $("a-to").value = a && a.valid_to ? a.valid_to : "";
    $("btn-kb-retire").hidden = !a;
    const ul = $("kb-history"); ul.innerHTML = "";
    for (const h of (a && a.history) || []) {
      const li = document.createElement("li");
      li.textContent = "v" + h.version + " · " + (ACTIONS()[h.action] || h.action) + " · " + CtiPage.time(h.at,
        {year: "numeric", month: "2-digit", day: "2-digit"}) + " · " + CtiPage.displayName({name: h.who});
      ul.appendChild(li);
    }
  }
  async function edit(articleId) {
    $("action-error").textContent = "";
    try { fill(await api("GET", "/knowledge/articles/" + encodeURIComponent(articleId))); } catch (e) { fail(e); }
  }
  function content() {
    return {question: $("a-question").value, answer: $("a-answer").value, kind: $("a-kind").value,
      tags: $("a-tags").value.split(/[,，]/).map((x) => x.trim()).filter((x) => x),
      valid_from: $("a-from").value || null, valid_to: $("a-to").value || null};
  }
  async function save() {
    $("action-error").textContent = "";
    try {
      const saved = current
        ? await api("PUT", "/knowledge/articles/" + encodeURIComponent(current.article_id),
          {...content(), version: current.version})
        : await api("POST", "/knowledge/articles", content());
      await edit(saved.article_id);
      $("kb-saved").textContent = t("Saved (version {version})", {version: saved.version});
      list();
    } catch (e) { fail(e); }
  }
  async function retire() {
    $("action-error").textContent = "";
    try { await api("DELETE", "/knowledge/articles/" + encodeURIComponent(current.article_id)); } catch (e) { fail(e); return; }
    $("kb-editor").hidden = true; current = null;
    list();
  }
  async function makeCase() {
    $("action-error").textContent = ""; $("case-result").textContent = "";
    try {
      const a = await api("POST", "/knowledge/cases", {order_id: $("case-order").value.trim()});
      $("case-result").textContent = t("Case {id} made", {id: a.article_id});
      await edit(a.article_id);
      list();
    } catch (e) { fail(e); }
  }
  async function report() {
    const q = new URLSearchParams({from: $("r-from").value, to: $("r-to").value});
    let r;
    try { r = await api("GET", "/knowledge/report?" + q); } catch (e) { fail(e); return; }
    const a = $("report-articles"); a.innerHTML = "";
    for (const x of r.articles) {
      const tr = document.createElement("tr");
      [x.question, x.opens, x.agents].forEach((v) => cell(tr, String(v)));
      a.appendChild(tr);
    }
    const g = $("report-agents"); g.innerHTML = "";
    for (const x of r.agents) {
      const tr = document.createElement("tr");
      [x.agent_id, x.opens, x.articles].forEach((v) => cell(tr, String(v)));
      g.appendChild(tr);
    }
  }
  async function start() {
    try { me = await api("GET", "/auth/me"); } catch (e) { CtiPage.showSignIn(); return; }
    if (["supervisor", "admin"].indexOf(me.role) < 0) {
      $("signin-error").textContent = t("A supervisor account is needed"); CtiPage.showSignIn(); return;
    }
    $("signin").hidden = true; $("app").hidden = false; $("me").textContent = CtiPage.displayName(me);
    if (!$("r-from").value) { $("r-from").value = today(); $("r-to").value = today(); }
    await list();
    report();
  }
  $("kb-filter").addEventListener("submit", (ev) => { ev.preventDefault(); list(); });
  $("btn-kb-new").addEventListener("click", () => fill(null));
  $("kb-form").addEventListener("submit", (ev) => { ev.preventDefault(); save(); });
  $("btn-kb-retire").addEventListener("click", retire);
  $("case-form").addEventListener("submit", (ev) => { ev.preventDefault(); makeCase(); });
  $("kb-report-query").addEventListener("submit", (ev) => { ev.preventDefault(); report(); });
  CtiPage.setup(start, () => { me = null; current = null; });
  start();
})();
