"""The pages' shared parts: the templates (Jinja2 in ``cti/web/templates``, no data in
them: each page signs in and reads the authenticated API), the static script and style
(read once at start, served with their content hash so that a page links
``/static/x?v=hash``, cached for a year), and the headers every page gets. The features
serve their own pages (``page(template)``): the desk ``/agent``, supervision
``/wallboard``, the reports ``/reports``, quality inspection ``/quality``. Every page is rendered in the request's locale
(``cti/web/i18n.py``): its labels through ``_()``, its scripts' messages on ``<body>``."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from cti.errors import Missing
from cti.web.i18n import COOKIE, LOCALES, NAMES, Messages, known

STATIC = Path(__file__).with_name("static")
TEMPLATES = Path(__file__).with_name("templates")
ASSETS = ("page.js", "desk.js", "wallboard.js", "reports.js", "charts.js", "quality.js", "deskquality.js", "knowledge.js",
          "deskknowledge.js", "deskorders.js", "deskcustomer.js", "style.css",
          "uPlot.iife.min.js", "uPlot.min.css")  # (the last two vendored: static/vendored.json)
VERSIONS = web.AppKey("asset_versions", dict[str, str])  # asset -> its content hash
MESSAGES = web.AppKey("messages", Messages)  # the pages' catalogues (cti/web/i18n.py)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def setup(app: web.Application, locale: str = "zh-CN") -> None:
    """``locale``: the site's (``[site] locale``), for a person who has chosen none."""
    app[MESSAGES] = Messages.load(locale)
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True)
    assets = {name: (STATIC / name).read_bytes() for name in ASSETS}  # once, not per request
    app[VERSIONS] = {name: hashlib.sha256(body).hexdigest()[:12] for name, body in assets.items()}

    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in assets:
            raise Missing(f"no asset {name}")
        types = {".js": "text/javascript", ".css": "text/css"}
        response = web.Response(body=assets[name], content_type=types[Path(name).suffix], charset="utf-8")
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response

    app.router.add_get("/static/{name}", static)


def page(template: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        messages = request.app[MESSAGES]
        locale = messages.choose(request)

        def gettext(message: str, **values: object) -> str:
            return messages.gettext(locale, message, **values)

        context = {"v": request.app[VERSIONS], "_": gettext, "locale": locale, "locales": LOCALES,
                   "locale_names": NAMES, "messages_json": messages.scripts_json[locale]}
        response = aiohttp_jinja2.render_template(template, request, context)
        asked = known(request.query.get("lang"))
        if asked is not None and asked != request.cookies.get(COOKIE):  # ?lang= is kept for the next visits
            response.set_cookie(COOKIE, asked, max_age=365 * 86400, path="/", samesite="Lax")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
    return handler
