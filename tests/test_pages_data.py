"""The import page: it renders without a file (AppTest), and in a real browser a dropped file is
checked and previewed, nothing is written until Confirm, and Confirm writes the accepted rows."""
from __future__ import annotations

import os
import pathlib

import pytest
from streamlit.testing.v1 import AppTest

import browser
import queries
from borderwatch import reference
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
    reference.load_into(store)
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
    # the page stops early while no file is chosen: the links to the other pages are there all the same
    links = [el.proto.label for el in at.sidebar if getattr(el, "type", "") == "page_link"]
    assert {"Live map", "Incident analysis", "Import data"} <= set(links), links
    at.text_area(key="imp_map").input("occurred_at Date").run()  # a mapping line without '='
    assert not at.exception
    assert any('"Column mapping" line 1 must look like NAME=VALUE' in e.value.replace("\\", "") for e in at.error)
    assert "Live map" in [el.proto.label for el in at.sidebar if getattr(el, "type", "") == "page_link"]


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
    assert confirm.is_enabled() and incident_count(import_store) == before, page.locator("[data-testid=\"stMain\"]").inner_text()
    page.get_by_role("heading", name="Preview of accepted rows").wait_for()
    assert page.locator("[data-testid=\"stDataFrame\"] td", has_text="boat with cigarettes").count() == 1
    _shot(page, "2-ready")
    # releasability: a wrong nation is refused in the page's words and nothing is written
    page.get_by_role("textbox", name="Released to").fill("USA,XXX")
    page.get_by_role("textbox", name="Released to").press("Enter")
    browser.wait_for_app(page, 60_000)
    confirm.click()
    browser.wait_for_app(page, 60_000)
    page.get_by_text('the "Released to" box').wait_for()
    assert incident_count(import_store) == before
    page.get_by_role("textbox", name="Owner nation").fill("MEX")
    page.get_by_role("textbox", name="Owner nation").press("Enter")
    page.get_by_role("textbox", name="Released to").fill("USA")
    page.get_by_role("textbox", name="Released to").press("Enter")
    browser.wait_for_app(page, 60_000)
    confirm.click()
    browser.wait_for_app(page, 60_000)
    page.get_by_text("2 written").wait_for()
    assert incident_count(import_store) == before + 2
    rows = import_store.cursor().execute(
        "SELECT owner_nation, release_nations FROM incidents WHERE description = 'boat with cigarettes'").fetchall()
    assert rows == [("MEX", ["USA"])]
    _shot(page, "3-imported")
    assert browser.app_exceptions(page) == []
    assert session.blocked == []


def _shot(page, name: str) -> None:
    shots = os.environ.get("BORDERWATCH_SCREENSHOTS")
    if shots:
        pathlib.Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(pathlib.Path(shots) / f"data-{name}.png"), full_page=True)


def test_import_messages_name_the_page_controls(tmp_path):
    """Hints the importer writes for the command line read, on the page, as the page's own controls."""
    from borderwatch import importer
    from borderwatch.importers.wording import cli_flags, for_page
    from borderwatch.views.ui import md as markdown_text

    no_threat = tmp_path / "nothreat.csv"
    no_threat.write_text("id,date,lat,lon\n1,2024-05-03,41.3,26.5\n", encoding="utf-8")
    moat = tmp_path / "moat.csv"
    moat.write_text("id,lat,lon,kind\n1,41.3,26.0,moat\n", encoding="utf-8")
    ambiguous = tmp_path / "slash.csv"
    ambiguous.write_text("id,date,threat,lat,lon\n1,03/04/2024,smuggling,41.3,26.5\n", encoding="utf-8")
    noise = tmp_path / "noise.csv"
    noise.write_bytes(b"id,date,threat,lat,lon,n\n1,2024-05-03,smuggling,41.3,26.5," + bytes(range(0x80, 0x100)) + b"\n")
    acled = tmp_path / "acled.csv"
    acled.write_text("event_id_cnty,event_date,event_type,sub_event_type,latitude,longitude\n"
                     "X1,2024-06-01,Battles,Armed clash,50.29,36.94\n", encoding="utf-8")
    reports = [importer.read_file("incidents", no_threat, now=NOW).report,
               importer.read_file("fortifications", moat).report,
               importer.read_file("incidents", ambiguous, now=NOW).report,
               importer.read_file("incidents", noise, now=NOW).report,
               importer.read_file("incidents", acled, now=NOW).report]
    texts = [r.format_text(max_rows=None) for r in reports] + [w for r in reports for w in r.warnings]
    assert sum("--" in t for t in texts) >= 5  # the command line's words are there to be replaced
    page = [for_page(t) for t in texts]
    assert [cli_flags(t) for t in page] == [[]] * len(page)
    joined = "\n".join(page)
    for control in ('the "Column mapping" box (threat_type=COLUMN)', 'the "Fixed values" box (kind=fence)',
                    'the "Date format" box (%d/%m/%Y)', 'the "Text encoding" box (cp1252)',
                    'choose "by column names only" under "Field mapping"',
                    '"Import valid rows, skip rejected ones"'):
        assert control in joined, control
    shown = markdown_text("[click](http://x) **b** <i>")  # the page's one escaper (tested in test_links)
    assert r"\[click\]\(" in shown and r"\*\*b\*\*" in shown and r"\<i\>" in shown


@pytest.mark.browser
def test_missing_field_is_fixed_with_the_page_control(streamlit_app, page_factory, import_store, tmp_path):
    env = dict(os.environ, BORDERWATCH_STORE=str(import_store.path), BORDERWATCH_NOW=NOW.isoformat(),
               BORDERWATCH_AUTH="off")  # access control is tested in test_access*
    base = streamlit_app(ROOT / "app.py", env=env)
    page = page_factory(f"{base}/data", viewport=(1400, 1400)).page
    browser.wait_for_app(page)
    path = tmp_path / "nothreat.csv"
    path.write_text("id,date,lat,lon\n1,2026-10-30,41.3,26.5\n", encoding="utf-8")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    browser.wait_for_app(page, 60_000)
    page.get_by_text("Whole file:").first.wait_for()
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert 'the "Fixed values" box (threat_type=VALUE)' in body and "--set" not in body and "--map" not in body
    page.get_by_text("File details (only when the file does not say)").click()
    box = page.get_by_role("textbox", name="Fixed values")
    box.fill("threat_type=smuggling")
    box.press("Control+Enter")
    browser.wait_for_app(page, 60_000)
    page.get_by_role("button", name="Confirm: import 1 incidents rows").wait_for()
    assert browser.app_exceptions(page) == []
