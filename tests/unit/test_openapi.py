"""The HTTP API is described (cti/web/static/openapi.json, served at /openapi.json): the
document is valid OpenAPI 3 and names exactly the routes the engine serves."""

from __future__ import annotations

import json

import schemathesis

from cti.app import FEATURES
from cti.web.auth import Auth
from cti.web.accounts import AuthSettings
from cti.web.server import OPENAPI, build_app


def test_the_document_names_exactly_the_routes_served() -> None:
    app = build_app(Auth(AuthSettings(), {}, {}), FEATURES)
    served = {(r.method, r.resource.canonical) for r in app.router.routes()
              if r.method != "HEAD" and r.resource is not None}
    spec = json.loads(OPENAPI.read_text())
    described = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert served == described, (served - described, described - served)


def test_the_document_is_valid_openapi() -> None:
    schema = schemathesis.openapi.from_path(str(OPENAPI))  # refuses an invalid document
    operations = list(schema.get_all_operations())
    assert len(operations) == 85
    assert all(type(op).__name__ == "Ok" for op in operations), [op for op in operations if type(op).__name__ != "Ok"]
