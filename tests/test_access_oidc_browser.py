"""Real browser against a real OpenID Connect provider on loopback (oidc-provider-mock): with
BORDERWATCH_AUTH=oidc the app signs people in through Streamlit's st.login. An identity with an
enabled account gets that account's nation, role and pages; one without an account is refused
and the refusal is audited."""
from __future__ import annotations

import secrets

import pytest

import browser
from borderwatch import audit, auth
from conftest import NOW, ROOT, demo_store

pytestmark = pytest.mark.browser
KNOWN, UNKNOWN = "ana.lyst@example.org", "nobody@example.org"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with demo_store(tmp_path_factory, "oidc_store", seed=13, incidents=2_000) as st:
        auth.add_user(KNOWN, "MEX", "analyst", store=st)
        yield st


@pytest.fixture
def provider():
    """The identity provider: any client may ask, any identity typed into its form signs in (its
    e-mail claim is what was typed)."""
    oidc_provider_mock = pytest.importorskip("oidc_provider_mock", reason="oidc-provider-mock is not installed")
    pytest.importorskip("authlib", reason="Authlib (needed by st.login) is not installed")
    with oidc_provider_mock.run_server_in_thread(port=browser.free_port()) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
def app(streamlit_app, provider, store, tmp_path):
    port = browser.free_port()
    secrets_file = tmp_path / ".streamlit" / "secrets.toml"
    secrets_file.parent.mkdir()
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
        'client_id = "borderwatch"\n'
        f'client_secret = "{secrets.token_urlsafe(16)}"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n', encoding="utf-8")
    env = {"BORDERWATCH_STORE": str(store.path), "BORDERWATCH_NOW": NOW.isoformat(), "BORDERWATCH_AUTH": "oidc",
           "BORDERWATCH_REFRESH_SECONDS": "0"}
    return streamlit_app(ROOT / "app.py", port=port, env=env, args=("--secrets.files", str(secrets_file)))


def _sign_in_at_provider(page, identity: str) -> None:
    browser.wait_for_app(page, 120_000)
    page.get_by_role("button", name="Sign in with your organisation's identity provider").click()
    page.get_by_role("heading", name="Authorize Client").wait_for(timeout=60_000)  # the provider's own page
    page.get_by_placeholder("sub").fill(identity)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url("http://127.0.0.1:*/**", timeout=60_000)  # back in the app
    browser.wait_for_app(page, 120_000)


def _only_provider_styles(blocked: list[str]) -> bool:
    """The provider's page asks for a stylesheet off site (blocked); the app itself asks for nothing."""
    return all(url.endswith(".css") and "pico" in url for url in blocked)


def test_oidc_identity_with_an_account_signs_in_with_its_role(app, page_factory, store):
    session = page_factory(app, viewport=(1400, 1000))
    page = session.page
    _sign_in_at_provider(page, KNOWN)
    page.get_by_text(f"Signed in as {KNOWN} · MEX · analyst").wait_for(timeout=120_000)
    nav = page.locator('[data-testid="stSidebar"]')
    nav.get_by_role("link", name="Incident analysis").wait_for(timeout=60_000)
    assert nav.get_by_role("link", name="Administration").count() == 0
    # an analyst's page opens; the administrator's page refuses
    nav.get_by_role("link", name="Incident analysis").click()
    page.get_by_role("heading", name="Incident analysis").wait_for(timeout=120_000)
    entry = audit.entries(store, action="sign-in", limit=1).iloc[0]
    assert (entry.actor, entry.outcome, entry.nation, entry.role, entry.detail) == (KNOWN, "ok", "MEX", "analyst", "oidc")
    # a reload keeps the sign-in (Streamlit's identity cookie); the account is looked up again
    page.reload()
    browser.wait_for_app(page, 120_000)
    page.get_by_text(f"Signed in as {KNOWN} · MEX · analyst").wait_for(timeout=120_000)
    assert browser.app_exceptions(page) == []
    # sign out: through the provider's end-session page, back to the sign-in button; a reload stays there
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click(timeout=60_000)
    _sign_in_offered(page)
    assert audit.entries(store, action="sign-out", limit=1).iloc[0].actor == KNOWN
    page.reload()
    _sign_in_offered(page)
    assert _only_provider_styles(session.blocked), session.blocked


def _sign_in_offered(page) -> None:
    page.wait_for_url("http://127.0.0.1:*/**", timeout=60_000)
    browser.wait_for_app(page, 120_000)
    page.get_by_role("button", name="Sign in with your organisation's identity provider").wait_for(timeout=60_000)
    assert page.get_by_text("Signed in as").count() == 0


def test_oidc_identity_without_an_account_is_refused_and_audited(app, page_factory, store):
    session = page_factory(app, viewport=(1400, 1000))
    page = session.page
    _sign_in_at_provider(page, UNKNOWN)
    page.get_by_text(f"No enabled Borderwatch account for {UNKNOWN}").wait_for(timeout=120_000)
    assert page.get_by_text("Signed in as").count() == 0
    assert page.get_by_role("heading", name="Incident analysis").count() == 0
    entry = audit.entries(store, action="sign-in", limit=1).iloc[0]
    assert (entry.actor, entry.outcome, entry.detail) == (UNKNOWN, "refused", "OIDC identity has no enabled account")
    assert browser.app_exceptions(page) == []
    # not stuck with that identity: sign out of it and sign in as someone with an account
    page.get_by_role("button", name="Sign out and use another identity").click()
    page.get_by_role("button", name="End session").click(timeout=60_000)
    _sign_in_offered(page)
    _sign_in_at_provider(page, KNOWN)
    page.get_by_text(f"Signed in as {KNOWN} · MEX · analyst").wait_for(timeout=120_000)
    assert _only_provider_styles(session.blocked), session.blocked
