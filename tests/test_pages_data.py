"""The import page: it renders without a file (AppTest), and in a real browser a dropped file is
checked and previewed, nothing is written until Confirm, and Confirm writes the accepted rows."""
from __future__ import annotations

import os
import pathlib

import pytest
from streamlit.testing.v1 import AppTest

import browser
import queries
from borderwatch import demo
from borderwatch.store import Store
from conftest import NOW, ROOT, sign_in

CSV = ("id,date,threat,lat,lon,reporting_nation,description\n"
       "a1,2026-10-30T08:00:00Z,smuggling,41.30,26.50,GRC,boat with cigarettes\n"
       "a2,2026-10-30T09:00:00Z,smuggling,41.31,26.51,GRC,van with fuel\n"
       "a3,2026-10-31,smuggling,,26.52,GRC,no latitude\n")


@pytest.fixture(scope="module")
def import_store(tmp_path_factory):
    """A store of its own (this test writes): reference data only."""
    store = Store(tmp_path_factory.mktemp("import-page-store"))
    demo.load_reference(store)
    yield store
    store.close()


def incident_count(store: Store) -> int:
    return queries.scalar("count_rows", store=store, idents={"table": "incidents"})


def test_import_page_renders_without_a_file(import_store, monkeypatch):
    monkeypatch.setenv("BORDERWATCH_STORE", str(import_store.path))
    monkeypatch.setenv("BORDERWATCH_NOW", NOW.isoformat())
    monkeypatch.chdir(ROOT)
    at = sign_in(AppTest.from_file(str(ROOT / "app.py"), default_timeout=120), import_store)
    at.run()
    at.switch_page("pages/data.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Import data"
    assert at.selectbox(key="imp_layer").value == "incidents"
    assert not at.get("button") or all(b.key != "imp_confirm" for b in at.button)


@pytest.mark.browser
def test_upload_report_then_confirm(streamlit_app, page_factory, import_store, tmp_path):
    env = dict(os.environ, BORDERWATCH_STORE=str(import_store.path), BORDERWATCH_NOW=NOW.isoformat(),
               BORDERWATCH_AUTH="off")
    base = streamlit_app(ROOT / "app.py", env=env)
    session = page_factory(f"{base}/data", viewport=(1400, 1400))
    page = session.page
    browser.wait_for_app(page)
    page.get_by_role("heading", name="Import data").wait_for()
    before = incident_count(import_store)
    path = tmp_path / "events.csv"
    path.write_text(CSV, encoding="utf-8")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    browser.wait_for_app(page, 60_000)
    page.get_by_text("Rejected rows (1)").wait_for()
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert "REFUSED" in body or "cannot be imported" in body
    confirm = page.get_by_role("button", name="Confirm: import")
    assert confirm.is_disabled()
    assert incident_count(import_store) == before, "nothing is written before Confirm"
    _shot(page, "1-refused")

    page.get_by_text("Import valid rows, skip rejected ones", exact=True).click()
    browser.wait_for_app(page, 60_000)
    confirm = page.get_by_role("button", name="Confirm: import 2 incidents rows")
    confirm.wait_for()
    assert confirm.is_enabled() and incident_count(import_store) == before
    page.get_by_role("heading", name="Preview of accepted rows").wait_for()
    assert page.locator("[data-testid=\"stDataFrame\"] td", has_text="boat with cigarettes").count() == 1
    _shot(page, "2-ready")
    confirm.click()
    browser.wait_for_app(page, 60_000)
    page.get_by_text("2 written").wait_for()
    assert incident_count(import_store) == before + 2
    _shot(page, "3-imported")
    assert browser.app_exceptions(page) == []
    assert session.blocked == []


def _shot(page, name: str) -> None:
    shots = os.environ.get("BORDERWATCH_SCREENSHOTS")
    if shots:
        pathlib.Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(pathlib.Path(shots) / f"data-{name}.png"), full_page=True)
