"""Real browser: two analysts of different nations sign in; their map figures, tables and exports
differ exactly as the releasability rules say; a viewer's deep link to a forbidden page is refused."""
from __future__ import annotations

import io
import json
import pathlib
import zipfile
from urllib.parse import parse_qsl

import pandas as pd
import pytest

import browser
import queries
from borderwatch import access, audit, auth
from borderwatch.filters import Filter
from conftest import NOW, ROOT

pytestmark = pytest.mark.browser
PASSWORD = "browser test password"
ACCOUNTS = {"usa-analyst-b": ("USA", "analyst"), "mex-analyst-b": ("MEX", "analyst"), "deu-viewer-b": ("DEU", "viewer")}


@pytest.fixture(scope="module")
def accounts(small_store):
    for name, (nation, role) in ACCOUNTS.items():
        if auth.get(name, small_store) is None:
            auth.add_user(name, nation, role, store=small_store)
            auth.change_password(name, PASSWORD, store=small_store)
    return small_store


@pytest.fixture
def server(streamlit_app, small_store_env, accounts):
    env = dict(small_store_env, BORDERWATCH_AUTH="local", BORDERWATCH_REFRESH_SECONDS="0")
    return streamlit_app(ROOT / "app.py", env=env)


def sign_in(page, name: str) -> None:
    browser.wait_for_app(page)
    page.get_by_role("heading", name="Borderwatch — sign in").wait_for()
    page.get_by_role("textbox", name="Account name").fill(name)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    browser.wait_for_app(page)
    page.get_by_text(f"Signed in as {name}").wait_for()


def expected(name: str, flt: Filter, store) -> tuple[set[str], int]:
    nation, role = ACCOUNTS[name]
    with access.viewing_as(access.viewer_for(name, nation, role, store)):
        ids = set(queries.df("incident_ids", flt, store=store, now=NOW).incident_id)
        from layers.base import MapContext

        last_24h = MapContext(flt.replace(window="24h"), now=NOW, store=store).situation.headline().incidents
    return ids, last_24h


def test_two_nations_see_and_export_different_rows(server, page_factory, accounts):
    store = accounts
    flt = Filter(window="365d", nations=("MEX", "USA"))
    seen = {}
    for name in ("usa-analyst-b", "mex-analyst-b"):
        want, want_24h = expected(name, flt, store)
        # the live map's headline figure counts the viewer's rows only
        session = page_factory(f"{server}/?window=24h&nations=MEX,USA", viewport=(1400, 1200))
        page = session.page
        sign_in(page, name)
        page.get_by_text("Borderwatch — live map").first.wait_for()
        head = page.locator('[data-testid="stMetric"]').first.inner_text()
        assert f"{want_24h:,}" in head, (name, head, want_24h)
        # the analysis table (a deep link, signed in on arrival)
        session = page_factory(f"{server}/analysis?window=365d&nations=MEX,USA", viewport=(1400, 1600))
        page = session.page
        sign_in(page, name)
        page.get_by_role("heading", name="Incident analysis").wait_for()
        page.get_by_text("Matching incidents").wait_for()
        metric = page.locator('[data-testid="stMetric"]').filter(has_text="Matching incidents").inner_text()
        assert f"{len(want):,}" in metric, (name, metric, len(want))
        # the export holds exactly the viewer's rows and says whom they are releasable to
        page.get_by_role("tab", name="Export").click()
        browser.wait_for_app(page)
        button = page.get_by_role("button", name="CSV (zip)")
        button.wait_for()
        with page.expect_download(timeout=60_000) as info:
            button.click()
        with zipfile.ZipFile(io.BytesIO(pathlib.Path(info.value.path()).read_bytes())) as zf:
            meta = json.loads(zf.read("metadata.json"))
            rows = set(pd.read_csv(zf.open(meta["data_file"])).incident_id)
        assert rows == want
        nation = ACCOUNTS[name][0]
        assert meta["marking"] == "UNCLASSIFIED" or nation in meta["marking"]
        assert browser.app_exceptions(page) == []
        assert session.blocked == []
        seen[name] = (rows, want_24h)
        # the download was audited: who, which filter, how many rows
        page.wait_for_timeout(500)
        entry = audit.entries(store, action="export", limit=1).iloc[0]
        assert (entry.actor, entry.nation, entry.row_count) == (name, nation, len(want))
        assert Filter.from_params(dict(parse_qsl(entry.filter_text))).nations == ("MEX", "USA")
    usa, mex = seen["usa-analyst-b"][0], seen["mex-analyst-b"][0]
    # each sees rows the other may not (owner only), and both see the shared ones (public, the
    # US-Mexico arrangement); neither sees everything
    assert usa - mex and mex - usa and usa & mex
    with access.viewing_as(access.SYSTEM):
        everything = set(queries.df("incident_ids", flt, store=store, now=NOW).incident_id)
    assert usa < everything and mex < everything


def test_forbidden_page_by_deep_link_is_refused(server, page_factory):
    session = page_factory(f"{server}/analysis?window=7d", viewport=(1400, 1000))
    page = session.page
    sign_in(page, "deu-viewer-b")
    page.get_by_text("Access refused").wait_for()
    assert page.get_by_text("Matching incidents").count() == 0
    nav = page.locator('[data-testid="stSidebarNav"]')
    assert nav.count() == 0 or "Incident analysis" not in nav.inner_text()
    assert browser.app_exceptions(page) == []
