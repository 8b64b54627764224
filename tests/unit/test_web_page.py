"""The web page at `/`: served from dashboards/web/dist when built, beside the API; /docs
otherwise. And the committed OpenAPI spec the page's client is generated from is current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving import app as app_module
from serving.app import create_app
from tests.conftest import ROOT
from tickerpulse.settings import Settings

PAGE = "<!doctype html><title>TickerPulse</title><div id=root></div>"


def test_the_built_page_is_served_at_the_root_and_the_api_still_answers(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(PAGE)
    (dist / "assets" / "index.js").write_text("console.log('tickerpulse')")
    monkeypatch.setattr(app_module, "WEB_DIST", dist)
    with TestClient(create_app(settings)) as client:
        page = client.get("/")
        assert page.status_code == 200 and "TickerPulse" in page.text
        assert page.headers["content-type"].startswith("text/html")
        assert client.get("/assets/index.js").text == "console.log('tickerpulse')"
        assert client.get("/healthz").json()["status"] == "ok"
        assert client.get("/docs").status_code == 200
        assert client.get("/metrics").status_code == 200
        assert client.get("/v1/tickers").status_code == 200
        missing = client.get("/v1/nothing/here")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"


def test_a_relay_of_its_own_is_named_to_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<html><head><title>TickerPulse</title></head></html>")
    monkeypatch.setattr(app_module, "WEB_DIST", dist)
    monkeypatch.setenv("TICKERPULSE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("STREAM_PUBLIC_URL", 'ws://relay.example:8001/v1/stream?x="1"')
    with TestClient(create_app(Settings())) as client:  # type: ignore[call-arg]
        head = client.get("/").text.split("</head>")[0]
    assert (
        '<meta name="tickerpulse-stream" content="ws://relay.example:8001/v1/stream?x=&quot;1&quot;" />'
        in head
    )


def test_without_a_built_page_the_root_leads_to_the_docs(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "WEB_DIST", tmp_path / "not-built")
    with TestClient(create_app(settings)) as client:
        answer = client.get("/", follow_redirects=False)
        assert answer.status_code == 307 and answer.headers["location"] == "/docs"


def test_the_page_client_is_generated_from_the_current_api() -> None:
    committed = json.loads((ROOT / "dashboards" / "web" / "openapi.json").read_text())
    assert committed == create_app().openapi(), (
        "dashboards/web/openapi.json is not the API's spec any more: run scripts/web.sh client "
        "(exports the spec and regenerates the page's client) and commit both"
    )
