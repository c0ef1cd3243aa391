"""App sessions (borderwatch/sessions.py): what the store keeps, when a session ends, and the app's
use of them (AppTest). The reload and new-tab behaviour in a real browser: test_access_sessions_browser.py."""
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from borderwatch import audit, auth, sessions
from borderwatch.views import signin
from conftest import ROOT, app_environment, demo_store

T0 = dt.datetime(2026, 12, 1, 8, 0, 0)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with demo_store(tmp_path_factory, "session_store", seed=7, incidents=1_000) as st:
        yield st


@pytest.fixture
def env(store, monkeypatch):
    with app_environment(monkeypatch, store, sessions.IDLE_ENV, sessions.LIFETIME_ENV):
        yield store


def _account(store, name, role="viewer", nation="USA"):
    if auth.get(name, store) is None:
        auth.add_user(name, nation, role, store=store)
        auth.change_password(name, "a long enough password", store=store)
    return name


def test_the_store_keeps_only_a_hash_of_the_id(env):
    store = env
    sid = sessions.create(_account(store, "hash-only"), address="10.0.0.7", store=store, at=T0)
    assert len(sid) >= 40  # 32 random bytes, URL-safe
    stored = store.cursor().execute("SELECT * FROM sessions WHERE account = 'hash-only'").fetchall()
    assert len(stored) == 1
    assert not any(sid in str(value) for value in stored[0])
    assert sessions.id_hash(sid) in stored[0]
    # a second sign-in gets a different id
    assert sessions.create("hash-only", store=store, at=T0) != sid
    s = sessions.get(sid, store)
    assert (s.account, s.address, s.created_at) == ("hash-only", "10.0.0.7", T0)
    assert s.idle_until == T0 + dt.timedelta(minutes=30) and s.expires_at == T0 + dt.timedelta(hours=12)


def test_idle_timeout_moves_with_use_and_the_lifetime_does_not(env, monkeypatch):
    store = env
    monkeypatch.setenv(sessions.IDLE_ENV, "20")
    monkeypatch.setenv(sessions.LIFETIME_ENV, "1")
    sid = sessions.create(_account(store, "idle-user"), store=store, at=T0)
    minutes = lambda m: T0 + dt.timedelta(minutes=m)  # noqa: E731
    assert sessions.check(sid, store=store, at=minutes(19)).ok
    # used at 19 min: open until 39 min
    assert sessions.get(sid, store).idle_until == minutes(39)
    assert sessions.check(sid, store=store, at=minutes(38)).ok
    # a use within a sixth of the idle timeout of the last write is not written (the session may end
    # up to that much early): one write per user per few minutes, not per click
    assert sessions.touch_every() == dt.timedelta(seconds=200)
    assert sessions.check(sid, store=store, at=minutes(41)).ok
    assert sessions.get(sid, store).last_seen_at == minutes(38)
    assert sessions.check(sid, store=store, at=minutes(42)).ok
    assert sessions.get(sid, store).last_seen_at == minutes(42)
    # never past the absolute lifetime, however much it is used
    assert sessions.check(sid, store=store, at=minutes(55)).ok
    assert sessions.get(sid, store).idle_until == minutes(60)
    assert sessions.check(sid, store=store, at=minutes(60)).reason == "expired"
    # idle: nobody used it for longer than the timeout
    other = sessions.create("idle-user", store=store, at=T0)
    assert sessions.check(other, store=store, at=minutes(20)).reason == "idle"
    assert not sessions.check(other, store=store, at=minutes(21)).ok


def test_revoked_and_unknown_ids_are_refused(env):
    store = env
    name = _account(store, "revoked-user")
    sid, other = sessions.create(name, store=store), sessions.create(name, store=store)
    sessions.revoke(sid, store=store)
    assert sessions.check(sid, store=store).reason == "revoked"
    assert sessions.check(other, store=store).ok  # another tab's or device's session stays
    assert sessions.check("not-a-session-id-at-all-xxxxxxxx", store=store).reason == "unknown"
    assert sessions.check("", store=store).reason == "unknown"
    # disabling the account or resetting its password ends all of its sessions; enabling does not reopen them
    auth.set_disabled(name, True, store=store)
    assert sessions.check(other, store=store).reason == "revoked"
    auth.set_disabled(name, False, store=store)
    assert sessions.check(other, store=store).reason == "revoked"
    third = sessions.create(name, store=store)
    auth.reset_password(name, store=store)
    assert sessions.check(third, store=store).reason == "revoked"
    assert sessions.open_sessions(name, store).empty


def test_ended_sessions_are_forgotten_after_a_week(env):
    store = env
    name = _account(store, "purged-user")
    old = sessions.create(name, store=store, at=T0 - dt.timedelta(days=9))
    assert sessions.get(old, store) is not None
    sessions.create(name, store=store, at=T0)  # each sign-in purges what ended a week before
    assert sessions.get(old, store) is None


def test_cookie_script_sets_a_strict_cookie_and_deletes_it():
    script = signin.cookie_script("abc_DEF-123", 3600)
    assert f'"{sessions.COOKIE}=abc_DEF-123; Path=/; Max-Age=3600; SameSite=Strict"' in script
    assert "'; Secure'" in script and "https:" in script
    assert "Max-Age=0" in signin.cookie_script("", 0)


# -- in the app (AppTest: no browser, so no cookies; the browser test covers them) ----------------------
def _app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)


def _sign_in_form(at: AppTest, name: str, password: str = "a long enough password") -> AppTest:
    at.run()
    at.text_input(key="bw_signin_name").input(name)
    at.text_input(key="bw_signin_password").input(password)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def test_sign_in_opens_a_session_and_sign_out_revokes_it(env):
    store = env
    name = _account(store, "tab-user", role="analyst")
    at = _sign_in_form(_app(), name)
    info = at.session_state["bw_signed_in"]
    assert info["name"] == name and sessions.check(info["sid"], store=store).ok
    assert sessions.get(info["sid"], store).account == name
    # the page carries the script that gives the id to this browser as a cookie
    assert info["cookie"] == signin.cookie_script(info["sid"], 12 * 3600)
    at.run()  # (AppTest: a widget first drawn in the run that followed st.rerun takes a click from the next one)
    at.sidebar.button(key="bw_sign_out").click().run()
    assert at.title[0].value == "Borderwatch — sign in"
    assert sessions.check(info["sid"], store=store).reason == "revoked"
    assert audit.entries(store, action="sign-out", limit=1).iloc[0].actor == name


def test_sign_out_elsewhere_disabling_and_role_changes_apply_at_the_next_rerun(env):
    store = env
    name = _account(store, "rerun-user", role="analyst")
    at = _sign_in_form(_app(), name)
    assert "analyst" in at.sidebar.caption[0].value
    auth.set_role(name, "viewer", store=store)  # an administrator changes the role
    at.run()
    assert "viewer" in at.sidebar.caption[0].value and "analyst" not in at.sidebar.caption[0].value
    # the same session signed out in another tab: this one is signed out at its next rerun
    sessions.revoke(at.session_state["bw_signed_in"]["sid"], store=store)
    at.run()
    assert at.title[0].value == "Borderwatch — sign in"
    assert any("signed out" in i.value for i in at.info)
    # disabling the account signs it out at once
    at = _sign_in_form(_app(), name)
    auth.set_disabled(name, True, store=store)
    at.run()
    assert at.title[0].value == "Borderwatch — sign in"
    assert any("disabled" in i.value for i in at.info)
    assert audit.entries(store, action="session-expired", limit=1).iloc[0].actor == name
    auth.set_disabled(name, False, store=store)


def test_an_identity_providers_sign_in_lasts_the_session_lifetime(env, monkeypatch):
    monkeypatch.setenv(sessions.LIFETIME_ENV, "2")
    signed_in = T0.replace(tzinfo=dt.timezone.utc).timestamp()  # the ID token's iat
    assert not sessions.provider_sign_in_ended(signed_in, at=T0 + dt.timedelta(minutes=119))
    assert sessions.provider_sign_in_ended(signed_in, at=T0 + dt.timedelta(hours=2))
    assert sessions.provider_sign_in_ended(None, at=T0) and sessions.provider_sign_in_ended("soon", at=T0)


def test_an_administrator_ends_every_session_of_an_account_from_the_command_line(env, capsys):
    from borderwatch import cli

    store = env
    name = _account(store, "lost-laptop")
    first, second = sessions.create(name, store=store), sessions.create(name, store=store)
    assert cli.main(["users", "sessions", name]) == 0
    assert capsys.readouterr().out.count(name) == 2  # two open sessions listed (never their ids)
    assert cli.main(["users", "sign-out", name]) == 0
    assert "2 open session(s) ended" in capsys.readouterr().out
    assert {sessions.check(s, store=store).reason for s in (first, second)} == {"revoked"}
    entry = audit.entries(store, action="sign-out", limit=1).iloc[0]
    assert entry.detail == f"every session of {name} (2 open)"
    assert cli.main(["users", "sessions", name]) == 0 and "no open session" in capsys.readouterr().out
    assert cli.main(["users", "sign-out", "no-such-account"]) == 2
    assert "no account named" in capsys.readouterr().err
