"""Accounts, sign-in, roles and the audit log: the command line, the auth module and the app (AppTest)."""
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

import queries
from borderwatch import access, audit, auth, cli, sessions
from borderwatch.filters import Filter
from conftest import ROOT, app_environment, demo_store, sign_in


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with demo_store(tmp_path_factory, "auth_store", seed=5, incidents=3_000) as st:
        yield st


@pytest.fixture
def env(store, monkeypatch):
    with app_environment(monkeypatch, store):
        yield store


def _last(store, action=""):
    return audit.entries(store, action=action, limit=1).iloc[0]


def test_users_command_line(env, capsys):
    store = env
    assert cli.main(["users", "add", "cli-user", "--nation", "mex", "--role", "analyst"]) == 0
    out = capsys.readouterr().out
    password = out.rsplit(": ", 1)[1].strip()
    account = auth.get("cli-user", store)
    assert (account.nation, account.role, account.must_change) == ("MEX", "analyst", True)
    assert account.password_hash.startswith("$argon2id$") and password not in account.password_hash
    assert auth.authenticate("cli-user", password, "10.0.0.1", store=store).must_change
    # bad input: clear message, nothing written
    before = len(auth.list_users(store))
    assert cli.main(["users", "add", "cli-user", "--nation", "MEX", "--role", "analyst"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert cli.main(["users", "add", "x y", "--nation", "MEX", "--role", "analyst"]) == 2
    assert cli.main(["users", "add", "nobody-here", "--nation", "XXX", "--role", "analyst"]) == 2
    assert "not a nation" in capsys.readouterr().err
    assert len(auth.list_users(store)) == before
    assert cli.main(["users", "list"]) == 0 and "cli-user" in capsys.readouterr().out
    assert cli.main(["users", "disable", "cli-user"]) == 0
    assert auth.authenticate("cli-user", password, "10.0.0.1", store=store).viewer is None
    assert _last(store, "sign-in").detail == "account disabled"
    assert cli.main(["users", "enable", "cli-user"]) == 0
    assert cli.main(["users", "reset-password", "cli-user"]) == 0
    new = capsys.readouterr().out.rsplit(": ", 1)[1].strip()
    assert auth.authenticate("cli-user", password, "10.0.0.1", store=store).viewer is None  # old one is gone
    assert auth.authenticate("cli-user", new, "10.0.0.1", store=store).viewer.nation == "MEX"
    assert cli.main(["users", "role", "cli-user", "briefer", "--nation", "USA"]) == 0
    assert auth.current_viewer("cli-user", store).role == "briefer"
    actions = set(audit.entries(store).action)
    assert {"user-added", "user-disabled", "user-enabled", "password-reset", "role-changed", "sign-in"} <= actions


def test_failed_sign_ins_are_throttled_per_account_and_address(env):
    store = env
    auth.add_user("throttled", "USA", "viewer", store=store)
    auth.change_password("throttled", "correct horse battery", store=store)
    for _ in range(auth.MAX_FAILURES_ACCOUNT):
        assert auth.authenticate("throttled", "wrong", "10.1.1.1", store=store).viewer is None
    refused = auth.authenticate("throttled", "correct horse battery", "10.1.1.2", store=store)
    assert refused.viewer is None and "Too many failed sign-ins" in refused.message
    assert _last(store, "sign-in").detail == "throttled"
    # another account from another address is not affected
    auth.add_user("fine", "USA", "viewer", store=store)
    auth.change_password("fine", "another good password", store=store)
    assert auth.authenticate("fine", "another good password", "10.1.1.3", store=store).viewer is not None
    # an address that keeps failing is throttled whatever account it tries
    for i in range(auth.MAX_FAILURES_ADDRESS):
        auth.authenticate(f"ghost{i}", "x", "10.9.9.9", store=store)
    assert auth.authenticate("fine", "another good password", "10.9.9.9", store=store).viewer is None


def test_passwords_need_a_minimum_length(env):
    auth.add_user("shortpw", "USA", "viewer", store=env)
    with pytest.raises(auth.AuthError, match="at least"):
        auth.change_password("shortpw", "short", store=env)


def test_trusted_header_only_from_a_configured_proxy(env, monkeypatch):
    store = env
    auth.add_user("sso-user", "DEU", "analyst", store=store)
    monkeypatch.setenv("BORDERWATCH_AUTH_HEADER", "X-Remote-User")
    monkeypatch.setenv("BORDERWATCH_AUTH_PROXIES", "10.0.0.0/24")
    headers = {"X-Remote-User": "sso-user"}
    assert auth.from_header(headers, "10.0.0.7", store=store).viewer.nation == "DEU"
    forged = auth.from_header(headers, "192.168.1.5", store=store)
    assert forged.viewer is None and "proxy" in forged.message
    assert "not a configured proxy" in _last(store, "sign-in").detail
    assert auth.from_header({"X-Remote-User": "stranger"}, "10.0.0.7", store=store).viewer is None
    assert auth.from_header({}, "10.0.0.7", store=store).viewer is None


def test_audit_log_is_a_hash_chain(env):
    store = env
    audit.record("export", actor="someone", nation="USA", role="analyst", flt=Filter(nations=("USA",)), rows=12,
                 store=store)
    entry = _last(store, "export")
    assert (entry.actor, entry.row_count, entry.filter_text) == ("someone", 12, "v=1&nations=USA")
    assert audit.verify(store) == []
    with store.transaction() as cur:  # someone edits the store behind the app's back
        cur.execute("UPDATE audit_log SET row_count = 1 WHERE seq = ?", [int(entry.seq)])
    assert any("altered" in p for p in audit.verify(store))
    with store.transaction() as cur:
        cur.execute("UPDATE audit_log SET row_count = 12 WHERE seq = ?", [int(entry.seq)])
    assert audit.verify(store) == []


def test_export_as_a_user_sees_and_marks_that_users_rows(env, tmp_path, capsys):
    store = env
    auth.add_user("mex-cli", "MEX", "analyst", store=store)
    out = tmp_path / "mex.csv"
    assert cli.main(["export", "csv", "--no-zip", "--as", "mex-cli", "--filter-url", "window=365d", "-o", str(out), "-q"]) == 0
    import json

    import pandas as pd

    meta = json.loads(out.with_name("mex.metadata.json").read_text())
    mex = access.viewer_for("m", "MEX", "analyst", store)
    with access.viewing_as(mex):
        expected = set(queries.df("incident_ids", Filter(window="365d"), store=store).incident_id)
    assert set(pd.read_csv(out).incident_id) == expected
    assert meta["marking"].startswith("UNCLASSIFIED") and ("MEX" in meta["marking"] or meta["marking"] == "UNCLASSIFIED")
    entry = _last(store, "export")
    assert (entry.actor, entry.nation, entry.row_count) == ("mex-cli", "MEX", len(expected))
    assert cli.main(["export", "csv", "--as", "no-such-user", "-o", str(tmp_path)]) == 2


# -- the app -------------------------------------------------------------------------------------------
def _app(**query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    return at


def test_sign_in_form_then_the_map(env):
    store = env
    auth.add_user("form-user", "USA", "viewer", store=store)
    auth.change_password("form-user", "form user password", store=store)
    at = _app().run()
    assert at.title[0].value == "Borderwatch — sign in"
    assert not any("live map" in t.value for t in at.title)
    at.text_input(key="bw_signin_name").input("form-user")
    at.text_input(key="bw_signin_password").input("wrong password!")
    at.button[0].click().run()
    assert any("Wrong account name or password" in e.value for e in at.error)
    at.text_input(key="bw_signin_password").input("form user password")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert any("Borderwatch — live map" in m.value for m in at.markdown)
    assert any("form-user" in c.value.replace("\\", "") for c in at.sidebar.caption)  # (Markdown-escaped)


def test_one_time_password_must_be_changed(env):
    store = env
    otp = auth.add_user("first-time", "POL", "viewer", store=store)
    at = _app().run()
    at.text_input(key="bw_signin_name").input("first-time")
    at.text_input(key="bw_signin_password").input(otp)
    at.button[0].click().run()
    assert at.title[0].value == "Borderwatch — choose your password"
    at.text_input(key="bw_new_pw1").input("my own new password")
    at.text_input(key="bw_new_pw2").input("my own new password")
    at.button[0].click().run()
    assert any("Borderwatch — live map" in m.value for m in at.markdown)
    assert not auth.get("first-time", store).must_change


def test_session_expires(env):
    store = env
    at = sign_in(_app(), store, name="expiring", nation="USA", role="viewer")
    sid = at.session_state["bw_signed_in"]["sid"]
    # the server-side session was last used two hours ago (idle timeout 30 minutes)
    store.cursor().execute("UPDATE sessions SET last_seen_at = last_seen_at - INTERVAL 2 HOUR, "
                           "idle_until = idle_until - INTERVAL 2 HOUR WHERE id_hash = $h", {"h": sessions.id_hash(sid)})
    at.run()
    assert at.title[0].value == "Borderwatch — sign in"
    assert any("expired" in i.value for i in at.info)
    assert _last(store, "session-expired").actor == "expiring"


def test_a_role_sees_only_its_pages_and_a_forbidden_page_is_refused(env):
    store = env
    at = sign_in(_app(), store, name="just-viewer", nation="USA", role="viewer").run()
    assert not at.exception, at.exception
    # the menu offers the live map only (the browser test checks the menu); the others refuse
    for path in ("pages/analysis.py", "pages/briefing.py", "pages/data.py", "pages/admin.py"):
        assert access.allows("admin", "admin")
        page = _refusal_of(at, path)
        assert page, path
    assert access.allows("analyst", "analysis") and not access.allows("viewer", "analysis")
    assert access.allows("briefer", "briefing") and not access.allows("analyst", "briefing")
    assert access.allows("importer", "import") and not access.allows("briefer", "import")
    assert access.allows("admin", "admin") and not access.allows("importer", "admin")


def _refusal_of(at: AppTest, path: str) -> bool:
    """Open ``path`` in the session and report whether it was refused: a page the role lacks is
    registered only as a hidden refusal at the page's address (no file page to switch to)."""
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(path)
    return True  # (AppTest cannot open a hidden page by address: test_access_browser.py does)


def test_admin_page_shows_and_exports_the_audit_log(env):
    store = env
    at = sign_in(_app(), store, name="the-admin", nation="USA", role="admin").run()
    at.switch_page("pages/admin.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Administration"
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Export the audit log (CSV)" in labels
    assert any("Hash chain intact" in c.value for c in at.caption)


def test_auth_off_shows_a_banner_on_every_page(env, monkeypatch):
    monkeypatch.setenv("BORDERWATCH_AUTH", "off")
    at = _app().run()
    assert any("Access control is off" in w.value for w in at.warning)
    at.switch_page("pages/analysis.py").run()
    assert any("Access control is off" in w.value for w in at.warning)
    assert not at.exception


def test_import_sets_owner_and_releasability(env, tmp_path, capsys):
    store = env
    path = tmp_path / "greek.csv"
    path.write_text("id,date,threat,lat,lon,reporting_nation,description\n"
                    "g1,2026-10-30T08:00:00Z,smuggling,41.30,26.50,GRC,boat\n"
                    "g2,2026-10-30T09:00:00Z,smuggling,41.31,26.51,GRC,van\n", encoding="utf-8")
    count = "SELECT count(*) FROM incidents WHERE description IN ('boat', 'van')"
    # bad input: clear message, nothing written
    assert cli.main(["import", "incidents", str(path), "--release-to", "greece"]) == 2
    assert "'greece'" in capsys.readouterr().err
    assert cli.main(["import", "incidents", str(path), "--owner", "XXX"]) == 2
    assert store.cursor().execute(count).fetchone()[0] == 0
    assert cli.main(["import", "incidents", str(path), "--owner", "GRC", "--release-to", "BGR,schengen"]) == 0
    rows = store.cursor().execute("SELECT owner_nation, release_public, release_nations, release_agreements "
                                  "FROM incidents WHERE description IN ('boat', 'van')").fetchall()
    assert rows == [("GRC", False, ["BGR"], ["schengen"])] * 2
    flt = Filter(window="custom", start=dt.datetime(2026, 10, 30), end=dt.datetime(2026, 10, 31), nations=("GRC",),
                 text="boat")
    for nation, sees in (("BGR", True), ("DEU", True), ("TUR", False)):
        with access.viewing_as(access.viewer_for("x", nation, "viewer", store)):
            assert bool(queries.scalar("incident_count", flt, store=store)) == sees, nation
