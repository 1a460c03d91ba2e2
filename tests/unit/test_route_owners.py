"""Each URL prefix is served by exactly one cti/ folder: the app's routes are listed
with the folder whose feature registers each (its ``FEATURE`` route table; what no
feature registers is the web layer's: health, sign-in, the API document, the pages'
assets), and a prefix (the path's first word: ``/wallboard``, ``/wallboard/live`` and
``/wallboard.json`` are one) served from two folders fails."""

from __future__ import annotations

import re
import sys
from collections import defaultdict

from aiohttp import web

from cti.app import FEATURES
from cti.web.auth import Auth
from cti.web.accounts import AuthSettings
from cti.web.server import Feature, build_app


def folder_of(feature: Feature) -> str:
    module = next(name for name, m in sorted(sys.modules.items())
                  if name.startswith("cti.") and getattr(m, "FEATURE", None) is feature)
    return module.split(".")[1]


def served() -> dict[tuple[str, str], str]:
    """(method, path) -> the cti/ folder that serves it."""
    app = build_app(Auth(AuthSettings(), {}, {}), FEATURES)
    owner = {(route.method, route.path): folder_of(feature)
             for feature in FEATURES for route in feature.routes if isinstance(route, web.RouteDef)}
    return {(r.method, r.resource.canonical): owner.get((r.method, r.resource.canonical), "web")
            for r in app.router.routes() if r.method != "HEAD" and r.resource is not None}


def test_every_url_prefix_is_served_by_one_folder() -> None:
    folders: dict[str, set[str]] = defaultdict(set)
    for (_, path), folder in served().items():
        match = re.match(r"/([a-z_-]*)", path)
        assert match is not None, path
        folders[match.group(1)].add(folder)
    shared = {prefix: sorted(found) for prefix, found in folders.items() if len(found) > 1}
    assert not shared, shared


def test_the_features_serve_their_product_areas() -> None:
    owners = served()
    assert owners[("GET", "/calls")] == owners[("POST", "/calls/{call_id}/disposition")] == "calls"
    assert owners[("GET", "/wallboard")] == owners[("GET", "/wallboard.json")] == "supervision"
    assert owners[("GET", "/workorders")] == owners[("POST", "/workorders/{order_id}/progress")] == "orders"
    assert owners[("GET", "/campaigns")] == owners[("POST", "/do-not-call")] == owners[("GET", "/return-visits")] \
        == "outbound"
    assert owners[("GET", "/reports")] == owners[("GET", "/reports/queues")] == "reports"
    assert owners[("GET", "/health")] == owners[("GET", "/static/{name}")] == "web"
    assert not any(folder == "web" for (_, path), folder in owners.items()
                   if not path.startswith(("/health", "/auth/", "/openapi.json", "/static/"))), owners
