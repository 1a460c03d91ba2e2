// The knowledge base beside the call on the desk: a search (GET /knowledge/search: the
// questions found, the best first), the articles suggested for the current call's kind
// (GET /knowledge/suggested, the most opened first) and one article opened with its
// answer (GET /knowledge/articles/{id}: the engine counts the open). The desk calls
// CtiDeskKnowledge.refresh(call) on each refresh; suggestions are asked again only when
// the call's kind changes.
"use strict";
window.CtiDeskKnowledge = (function () {
  const $ = (id) => document.getElementById(id);
  const t = CtiPage.t, word = CtiPage.word, api = CtiPage.api;
  let kind = null, asked = 0;  // (searches asked: an earlier answer arriving late is dropped)
  function fail(e) { $("kb-error").textContent = e.message; }
  function item(a, list) {
    const li = document.createElement("li");
    li.id = list + "-" + a.article_id;
    const b = document.createElement("button");
    b.type = "button"; b.className = "quiet kb-open"; b.dataset.article = a.article_id;
    b.textContent = a.question;
    b.addEventListener("click", () => open(a.article_id));
    li.appendChild(b);
    const about = [a.kind ? word("kind", a.kind) : "", a.source === "case" ? t("Case") : "", (a.tags || []).join(", ")]
      .filter((x) => x);
    if (about.length) li.append(" · " + about.join(" · "));
    return li;
  }
  function render(ul, list, rows) {
    ul.innerHTML = "";
    for (const a of rows) ul.appendChild(item(a, list));
  }
  async function search() {
    $("kb-error").textContent = "";
    const q = $("kb-q").value.trim();
    const mine = ++asked;
    let rows;
    try { rows = await api("GET", "/knowledge/search?q=" + encodeURIComponent(q)); } catch (e) { fail(e); return; }
    if (mine !== asked) return;  // a newer search was asked meanwhile
    render($("kb-results"), "kb-result", rows);
    $("kb-none").hidden = rows.length > 0;
  }
  async function open(articleId) {
    $("kb-error").textContent = "";
    let a;
    try { a = await api("GET", "/knowledge/articles/" + encodeURIComponent(articleId)); } catch (e) { fail(e); return; }
    $("kb-article").hidden = false;
    $("kb-article").dataset.article = a.article_id;
    $("kb-question").textContent = a.question;
    const box = $("kb-answer"); box.innerHTML = "";
    for (const line of a.answer.split("\n")) {
      const p = document.createElement("p"); p.textContent = line; box.appendChild(p);
    }
    const until = a.valid_to ? t("Valid until {date}", {date: a.valid_to}) : "";
    $("kb-meta").textContent = [a.source === "case" ? t("Case from work order {order}", {order: a.order_id}) : "",
      until, t("Updated {time}", {time: CtiPage.time(a.updated_at, {year: "numeric", month: "2-digit", day: "2-digit"})})]
      .filter((x) => x).join(" · ");
  }
  async function refresh(call) {
    if ($("app").hidden) return;
    const now = call && call.kind ? call.kind : null;
    if (now === kind) return;
    kind = now;
    $("kb-suggested-title").hidden = true; $("kb-suggested").innerHTML = "";
    if (!kind) return;
    let rows;
    try { rows = await api("GET", "/knowledge/suggested?kind=" + encodeURIComponent(kind)); } catch (e) { return; }
    if (kind !== now) return;  // the call changed meanwhile
    render($("kb-suggested"), "kb-suggested", rows);
    $("kb-suggested-title").hidden = !rows.length;
  }
  $("kb-search").addEventListener("submit", (ev) => { ev.preventDefault(); search(); });
  $("btn-kb-close").addEventListener("click", () => { $("kb-article").hidden = true; });
  return {refresh, open, search};
})();
