"""The browser library the pages vendor (cti/web/static/vendored.json) is the pinned
version: each file's sha256 matches the manifest, its licence is kept beside it, and the
pages that draw charts load it (served from /static, no remote origin)."""

from __future__ import annotations

import hashlib
import json
from cti.web.pages import ASSETS, STATIC, TEMPLATES


def test_vendored_files_are_the_pinned_ones_with_their_licence() -> None:
    manifest = json.loads((STATIC / "vendored.json").read_text())
    assert manifest["package"] == "uplot" and manifest["version"] and manifest["integrity"].startswith("sha512-")
    for inner, (name, digest) in manifest["files"].items():
        body = (STATIC / name).read_bytes()
        assert body, name
        if digest is not None:
            assert hashlib.sha256(body).hexdigest() == digest, f"{name} is not {manifest['package']} {manifest['version']}"
            assert name in ASSETS, f"{name} is vendored but not served"
    assert "MIT" in (STATIC / "uPlot.LICENSE").read_text()


def test_the_chart_pages_load_the_library_from_this_origin_only() -> None:
    for page in ("wallboard.html", "reports.html"):
        text = (TEMPLATES / page).read_text()
        assert "/static/uPlot.iife.min.js" in text and "/static/charts.js" in text, page
        assert text.index("uPlot.iife.min.js") < text.index("charts.js"), page
    for path in [*TEMPLATES.glob("*.html"), *(p for p in STATIC.glob("*.js") if "uPlot" not in p.name)]:
        assert "http://" not in path.read_text() and "https://" not in path.read_text(), path
