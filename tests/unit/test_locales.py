"""The pages' languages (cti/web/i18n.py): every page rendered in every locale, with every
message its templates and scripts use translated in each catalogue; the locale chosen by
the site, the person's cookie and ?lang=; an unknown [site] locale refused at start."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from markupsafe import escape

from cti.app import FEATURES
from cti.web.auth import Auth
from cti.web.accounts import AuthSettings
from cti.web.i18n import LOCALES, Messages
from cti.web.server import build_app

WEB = Path(__file__).resolve().parents[2] / "cti" / "web"
PAGES = {"/agent": "agent.html", "/wallboard": "wallboard.html", "/reports": "reports.html",
         "/quality": "quality.html", "/knowledge": "knowledge.html"}
SCRIPTS = ("page.js", "desk.js", "wallboard.js", "reports.js", "charts.js", "quality.js", "deskquality.js", "knowledge.js",
           "deskknowledge.js", "deskorders.js", "deskcustomer.js")
# A message in a template: _("..."); in a script: t("...") or CtiPage.t("...") with a literal.
TEMPLATE_ID = re.compile(r'\b_\(\s*"((?:[^"\\]|\\.)*)"')
SCRIPT_ID = re.compile(r'(?<![\w$])(?:CtiPage\.)?t\(\s*"((?:[^"\\]|\\.)*)"')


def template_chain(name: str) -> list[str]:
    """A template and what it extends or includes, transitively."""
    seen: list[str] = []
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        todo += re.findall(r'{%\s*(?:extends|include)\s+"([^"]+)"', (WEB / "templates" / current).read_text())
    return seen


def template_ids(name: str) -> set[str]:
    return {m for t in template_chain(name) for m in TEMPLATE_ID.findall((WEB / "templates" / t).read_text())}


def script_ids() -> set[str]:
    return {m for s in SCRIPTS for m in SCRIPT_ID.findall((WEB / "static" / s).read_text())}


def all_ids() -> set[str]:
    return set().union(*(template_ids(t) for t in PAGES.values())) | script_ids()


def untranslated(catalogues: Mapping[str, Mapping[str, str]], ids: set[str]) -> list[str]:
    """What a catalogue lacks: for each locale, each id without a (non-empty) translation."""
    return [f"{locale}: {msgid!r}" for locale in LOCALES for msgid in sorted(ids)
            if not catalogues[locale].get(msgid, "").strip()]


def test_the_extraction_finds_the_pages_messages() -> None:
    ids = all_ids()
    assert {"Sign in", "Agent desk", "Wallboard", "Reports", "Ready", "Paused", "{n} min ago",
            "Pause after this call: {reason}", "Longest wait"} <= ids
    assert len(ids) > 150
    assert not any(re.search(r"\(R\d+\)", i) for i in ids), "a rule ID in a label"


def test_every_script_message_is_a_literal() -> None:
    """A t(...) whose id is computed could not be checked here: every call names its id."""
    for script in SCRIPTS:
        text = (WEB / "static" / script).read_text()
        calls = re.findall(r'(?<![\w$.])(?:CtiPage\.)?t\((.{0,1})', text.replace("function t(", ""))
        assert all(c == '"' for c in calls), (script, calls)


def test_every_message_is_translated_in_every_catalogue() -> None:
    assert untranslated(Messages.load().catalogues, all_ids()) == []


def test_a_message_removed_from_a_catalogue_is_caught() -> None:
    catalogues = {k: dict(v) for k, v in Messages.load().catalogues.items()}
    catalogues["zh-TW"].pop("Pause after this call: {reason}")
    catalogues["zh-CN"]["Longest wait"] = ""
    assert untranslated(catalogues, all_ids()) == ["zh-CN: 'Longest wait'",
                                                   "zh-TW: 'Pause after this call: {reason}'"]


def test_placeholders_are_kept_by_every_translation() -> None:
    for locale, catalogue in Messages.load().catalogues.items():
        for msgid, text in catalogue.items():
            assert sorted(re.findall(r"{\w+}", msgid)) == sorted(re.findall(r"{\w+}", text)), (locale, msgid)


def test_the_chinese_catalogues_are_in_their_own_script() -> None:
    """zh-CN in Simplified characters with mainland terms, zh-TW in Traditional."""
    cn, tw = Messages.load().catalogues["zh-CN"], Messages.load().catalogues["zh-TW"]
    simplified, traditional = set("队坐签录报图话务线时设应态级资单条"), set("隊簽錄報圖話務線時設應態級資單條")
    assert not any(ch in traditional for text in cn.values() for ch in text)
    assert not any(ch in simplified - {"坐"} for text in tw.values() for ch in text)
    assert cn["Queue"] == "队列" and cn["Agent"] == "坐席" and cn["Work order"] == "工单"


def client(locale: str = "zh-CN") -> TestClient:
    return TestClient(TestServer(build_app(Auth(AuthSettings(), {}, {}), FEATURES, [], locale)))


async def test_every_page_is_rendered_in_each_locale_with_every_message_translated() -> None:
    catalogues = Messages.load().catalogues
    scripts = script_ids()
    async with client() as http:
        for path, template in PAGES.items():
            for locale in LOCALES:
                resp = await http.get(path, params={"lang": locale})
                body = await resp.text()
                assert resp.status == 200, (path, locale, body[:300])
                assert f'<html lang="{locale}">' in body, (path, locale)
                assert "_(" not in body and "{{" not in body, (path, locale)
                for msgid in template_ids(template):
                    text = catalogues[locale].get(msgid, "")
                    assert text and str(escape(text)) in body, (path, locale, msgid)
                match = re.search(r'data-messages="([^"]*)"', body)
                assert match is not None
                given = json.loads(match.group(1).replace("&#34;", '"').replace("&#39;", "'")
                                   .replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
                missing = [m for m in scripts if not given.get(m)]
                assert missing == [], (path, locale, missing)
                assert not re.search(r"\(R\d+\)", body), (path, locale, "a rule ID shown")
                if locale != "en":  # no English label left on a Chinese page
                    assert ">Sign out<" not in body and ">Sign in<" not in body


async def test_the_locale_is_the_sites_unless_the_person_chose_one() -> None:
    async with client("zh-TW") as http:
        body = await (await http.get("/wallboard")).text()
        assert '<html lang="zh-TW">' in body and "監控看板" in body
        # the person's choice: the cookie the language selector sets
        http.session.cookie_jar.update_cookies({"cti-lang": "en"})
        body = await (await http.get("/wallboard")).text()
        assert '<html lang="en">' in body and ">Wallboard<" in body
        # ?lang= wins over the cookie, and is kept in it from then on
        resp = await http.get("/agent", params={"lang": "zh-CN"})
        assert '<html lang="zh-CN">' in await resp.text() and resp.cookies["cti-lang"].value == "zh-CN"
        body = await (await http.get("/reports")).text()
        assert '<html lang="zh-CN">' in body and "报表" in body
        # an unknown choice is ignored: the cookie's, then the site's
        body = await (await http.get("/reports", params={"lang": "fr"})).text()
        assert '<html lang="zh-CN">' in body
        http.session.cookie_jar.clear()
        body = await (await http.get("/reports", params={"lang": "xx"})).text()
        assert '<html lang="zh-TW">' in body
    async with client() as http:  # the default site: Simplified Chinese
        body = await (await http.get("/agent")).text()
        assert '<html lang="zh-CN">' in body and "坐席工作台" in body
        assert 'class="lang-select"' in body and '<option value="en">English</option>' in body


def test_an_unknown_site_locale_is_refused_at_start(tmp_path: Path) -> None:
    from cti.config import _validate
    from cti.configreader import Table
    from cti.errors import ConfigError

    raw: dict[str, object] = {"asterisk": {"ari_user": "u", "ari_password": "p", "ami_user": "u", "ami_secret": "s"},
                              "queues": [{"name": "q"}], "site": {"locale": "fr-FR"}}
    with pytest.raises(ConfigError, match="site.locale"):
        _validate(Table(raw, ""))
    raw["site"] = {"locale": "zh_tw"}  # the tag as written in the config, exactly
    with pytest.raises(ConfigError, match="site.locale"):
        _validate(Table(raw, ""))
    raw["site"] = {"locale": "en"}
    assert _validate(Table(raw, "")).locale == "en"
    raw["site"] = {}
    assert _validate(Table(raw, "")).locale == "zh-CN"


async def test_the_signed_in_person_is_named_by_display_name() -> None:
    from cti.web.i18n import display_name

    assert display_name("account:li") == "li"
    assert display_name("agent:1001", "1001") == "1001"
    assert display_name("token:prometheus") == "prometheus" and display_name("admin-token") == "admin-token"
    app = build_app(Auth(AuthSettings(), {}, {"admin": "admin-token-for-the-test"}), [], [])
    async with TestClient(TestServer(app)) as http:
        me = await (await http.get("/auth/me", headers={"Authorization": "Bearer admin-token-for-the-test"})).json()
        assert me["name"] == "admin-token" and me["display_name"] == "admin-token"
    for script in ("wallboard.js", "reports.js"):  # the header shows it, not the identity's name
        text = (WEB / "static" / script).read_text()
        assert 'textContent = CtiPage.displayName(me)' in text and "textContent = me.name" not in text
