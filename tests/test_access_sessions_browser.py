"""Real browser: a signed-in user reloads the page and opens the copied link in a new tab of the same
browser and stays signed in (the session cookie); after signing out, a reload asks to sign in again."""
from __future__ import annotations

import datetime as dt
import time

import pytest

import browser
from borderwatch import audit, auth, sessions
from conftest import NOW, ROOT, demo_store

pytestmark = pytest.mark.browser
NAME, PASSWORD = "reload-analyst", "reload test password"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with demo_store(tmp_path_factory, "session_browser_store", seed=11, incidents=2_000) as st:
        auth.add_user(NAME, "USA", "analyst", store=st)
        auth.change_password(NAME, PASSWORD, store=st)
        yield st


def _session_cookie(context) -> dict | None:
    return next((c for c in context.cookies() if c["name"] == sessions.COOKIE), None)


def _signed_in(page) -> None:
    browser.wait_for_app(page, 120_000)
    page.get_by_text(f"Signed in as {NAME}").wait_for(timeout=120_000)
    assert page.get_by_role("heading", name="Borderwatch — sign in").count() == 0


def _asked_to_sign_in(page) -> None:
    browser.wait_for_app(page, 120_000)
    page.get_by_role("heading", name="Borderwatch — sign in").wait_for(timeout=120_000)
    assert page.get_by_text(f"Signed in as {NAME}").count() == 0


def test_reload_and_new_tab_stay_signed_in_until_sign_out(streamlit_app, page_factory, store):
    env = {"BORDERWATCH_STORE": str(store.path), "BORDERWATCH_NOW": NOW.isoformat(), "BORDERWATCH_AUTH": "local",
           "BORDERWATCH_REFRESH_SECONDS": "0"}
    server = streamlit_app(ROOT / "app.py", env=env)
    session = page_factory(f"{server}/analysis?window=30d&nations=USA", viewport=(1400, 1000))
    page = session.page
    browser.sign_in(page, NAME, PASSWORD)
    page.get_by_role("heading", name="Incident analysis").wait_for(timeout=120_000)
    cookie = browser.wait_until(lambda: _session_cookie(page.context), timeout=30, what="session cookie set")
    assert cookie["sameSite"] == "Strict" and cookie["path"] == "/" and not cookie["secure"]  # (plain http here)
    assert 12 * 3600 - 120 < cookie["expires"] - time.time() <= 12 * 3600  # the session's lifetime
    sid = cookie["value"]
    stored = sessions.get(sid, store)
    assert stored is not None and stored.account == NAME and stored.revoked_at is None
    # the id is in no address the user could share
    link = browser.address(page)
    assert sid not in link and "bw_session" not in link

    # reload: still signed in, on the same page with the same filter, no password asked
    page.reload()
    _signed_in(page)
    page.get_by_role("heading", name="Incident analysis").wait_for(timeout=120_000)
    assert "nations=USA" in browser.address(page)
    entry = audit.entries(store, action="sign-in", limit=1).iloc[0]
    assert (entry.actor, entry.outcome, entry.detail) == (NAME, "ok", "local (session resumed)")

    # the copied link in a new tab of the same browser: signed in there too
    tab = page.context.new_page()
    tab.goto(link)
    _signed_in(tab)
    tab.get_by_role("heading", name="Incident analysis").wait_for(timeout=120_000)

    # sign out in the first tab: the server's session ends and the cookie goes
    page.get_by_role("button", name="Sign out").click()
    _asked_to_sign_in(page)
    assert sessions.check(sid, store=store).reason == "revoked"
    browser.wait_until(lambda: _session_cookie(page.context) is None, timeout=30, what="session cookie deleted")
    page.reload()
    _asked_to_sign_in(page)
    # the other tab is signed out at its next interaction, and after a reload too
    tab.reload()
    _asked_to_sign_in(tab)
    assert browser.app_exceptions(page) == [] and browser.app_exceptions(tab) == []

    # a cookie that names a revoked or an unknown session signs nobody in: refused, audited, deleted
    for value, reason in ((sid, "revoked"), ("x" * 43, "unknown")):
        page.context.add_cookies([{"name": sessions.COOKIE, "value": value, "url": server}])
        page.reload()
        _asked_to_sign_in(page)
        page.get_by_text("please sign in again").wait_for()
        entry = audit.entries(store, action="sign-in", limit=1).iloc[0]
        assert (entry.outcome, entry.detail) == ("refused", f"session cookie: {reason}")
        browser.wait_until(lambda: _session_cookie(page.context) is None, timeout=30, what="refused cookie deleted")
    # one that names a session past its lifetime: the same, audited as an expired session
    old = sessions.create(NAME, store=store, at=sessions.now() - dt.timedelta(hours=13))
    page.context.add_cookies([{"name": sessions.COOKIE, "value": old, "url": server}])
    page.reload()
    _asked_to_sign_in(page)
    page.get_by_text("time limit").wait_for()
    entry = audit.entries(store, action="session-expired", limit=1).iloc[0]
    assert (entry.actor, entry.detail) == (NAME, "session cookie: expired")
    assert session.blocked == []



def test_behind_a_single_sign_on_proxy_a_reload_and_a_new_tab_stay_signed_in(streamlit_app, page_factory, store):
    """BORDERWATCH_AUTH=header: the proxy names the user on every connection (here the browser sends
    the header itself, from 127.0.0.1, the default proxy address), so no session cookie is needed;
    from an address that is not a proxy the same header is refused."""
    env = {"BORDERWATCH_STORE": str(store.path), "BORDERWATCH_NOW": NOW.isoformat(), "BORDERWATCH_AUTH": "header",
           "BORDERWATCH_REFRESH_SECONDS": "0"}
    server = streamlit_app(ROOT / "app.py", env=env)
    session = page_factory(None, viewport=(1400, 1000))
    page = session.page
    page.context.set_extra_http_headers({"X-Forwarded-User": NAME})
    page.goto(f"{server}/analysis?window=30d")
    _signed_in(page)
    page.get_by_role("heading", name="Incident analysis").wait_for(timeout=120_000)
    entry = audit.entries(store, action="sign-in", limit=1).iloc[0]
    assert (entry.actor, entry.outcome, entry.address, entry.detail) == (NAME, "ok", "127.0.0.1", "header X-Forwarded-User")
    page.reload()
    _signed_in(page)
    tab = page.context.new_page()
    tab.goto(browser.address(page))
    _signed_in(tab)
    assert _session_cookie(page.context) is None
    assert browser.app_exceptions(page) == [] and session.blocked == []
    # the proxy is elsewhere: a header sent straight to the app is refused (and audited)
    elsewhere = streamlit_app(ROOT / "app.py", env=dict(env, BORDERWATCH_AUTH_PROXIES="192.0.2.10"))
    tab.goto(elsewhere)
    browser.wait_for_app(tab, 120_000)
    tab.get_by_text("accepts sign-in only through its single-sign-on proxy (connection from 127.0.0.1 refused)").wait_for()
    assert tab.get_by_text("Signed in as").count() == 0
    entry = audit.entries(store, action="sign-in", limit=1).iloc[0]
    assert (entry.actor, entry.outcome, entry.address) == (NAME, "refused", "127.0.0.1")
