"""The pages' languages: gettext catalogues (``cti/web/locale/<locale>/LC_MESSAGES/
messages.po``) read once at start with Babel, one per locale: zh-CN (Simplified, mainland
terms, the default), zh-TW (Traditional) and en. A message's id is its English text.

The templates get ``_()`` and the page's locale; the scripts get the same catalogue as
JSON on ``<body data-messages>`` (``CtiPage.t()``). The locale of a request: ``?lang=``
(kept in the cookie from then on), else the ``cti-lang`` cookie the language selector
sets, else the site's ``[site] locale``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from aiohttp import web
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).with_name("locale")
LOCALES = ("zh-CN", "zh-TW", "en")  # the tags pages and config use (BCP 47)
DEFAULT = "zh-CN"
COOKIE = "cti-lang"
NAMES: Mapping[str, str] = MappingProxyType(  # each in its own language
    {"zh-CN": "简体中文", "zh-TW": "繁體中文", "en": "English"})


def display_name(identity: str, agent_id: str | None = None) -> str:
    """How the pages name a person: the agent's id, an account by its name ("li", not
    "account:li"), a token by its name."""
    if agent_id is not None:
        return agent_id
    kind, _, name = identity.partition(":")
    return name if name and kind in ("account", "agent", "token") else identity


def folder(locale: str) -> str:
    """The catalogue's folder name (gettext's ``zh_CN``) for a tag (``zh-CN``)."""
    return locale.replace("-", "_")


def known(tag: str | None) -> str | None:
    """The locale a tag names (``zh-cn``, ``zh_TW``, ``EN``), or None."""
    if not tag:
        return None
    wanted = tag.strip().replace("_", "-").lower()
    return next((loc for loc in LOCALES if loc.lower() == wanted), None)


def read(locale: str) -> dict[str, str]:
    """A locale's catalogue: msgid -> its translation (empty where untranslated)."""
    with (LOCALE_DIR / folder(locale) / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f, locale=folder(locale))
    return {str(m.id): str(m.string or "") for m in catalog if m.id and isinstance(m.id, str)}


@dataclass(frozen=True, slots=True)
class Messages:
    """Every locale's messages, read once: what a page renders with."""

    site: str  # the site's locale ([site] locale)
    catalogues: Mapping[str, Mapping[str, str]]
    scripts_json: Mapping[str, str]  # locale -> its catalogue as JSON, for <body data-messages>

    @classmethod
    def load(cls, site: str = DEFAULT) -> Messages:
        catalogues = {loc: read(loc) for loc in LOCALES}
        # the scripts get only what is translated: a missing key shows its English id
        as_json = {loc: json.dumps({k: v for k, v in cat.items() if v}, ensure_ascii=False, sort_keys=True)
                   for loc, cat in catalogues.items()}
        return cls(site, catalogues, as_json)

    def choose(self, request: web.Request) -> str:
        """The request's locale: ``?lang=``, else the cookie, else the site's."""
        return (known(request.query.get("lang")) or known(request.cookies.get(COOKIE)) or self.site)

    def gettext(self, locale: str, message: str, **values: object) -> str:
        """``message`` in ``locale`` (its English id where the catalogue has nothing),
        with ``{name}`` placeholders filled from ``values``."""
        text = self.catalogues[locale].get(message) or message
        return text.format(**values) if values else text
