"""Shared pytest fixtures."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

import browser

# --------------------------------------------------------------------------- #
# Browser harness (see tests/browser.py)
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's chromium; skips the test when it is not installed."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    path = browser.chromium_path()
    if path is None:
        pytest.skip(browser.chromium_missing_reason())
    return path


@pytest.fixture
def streamlit_app():
    """Start Streamlit scripts: ``base_url = streamlit_app(script, env={...})``.

    Accepts the keyword arguments of :func:`browser.start_streamlit`; every
    server is stopped at the end of the test.
    """
    with contextlib.ExitStack() as stack:

        def start(script_path: str | Path, **kwargs) -> browser.StreamlitURL:
            return stack.enter_context(browser.start_streamlit(script_path, **kwargs))

        yield start


@pytest.fixture(scope="session")
def chromium_browser(chromium):
    """One chromium (Playwright ``Browser``) shared by the whole session."""
    with browser.launch_chromium() as instance:
        yield instance


@pytest.fixture
def page_factory(chromium_browser):
    """Open pages: ``session = page_factory(base_url)`` (a browser.BrowserSession).

    Off-site requests are aborted and listed in ``session.blocked``; failed
    local requests in ``session.failed``; console errors in
    ``session.console_errors``.  Each page gets its own browser context,
    closed at the end of the test.
    """
    with contextlib.ExitStack() as stack:

        def open_page(base_url: str | None = None, **kwargs) -> browser.BrowserSession:
            return stack.enter_context(
                browser.browser_page(base_url, browser=chromium_browser, **kwargs)
            )

        yield open_page


# -- the store ------------------------------------------------------------------------------
import datetime as dt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
REALDATA = Path(os.environ.get("BORDERWATCH_REALDATA") or SHARED / "realdata")
NOW = dt.datetime(2026, 11, 1, 12, 0, 0)
SMALL_INCIDENTS = 20_000


def realdata(relative: str) -> Path:
    """A real third-party file from ``../shared/realdata/``; skips the test, naming the file, when absent.

    Tests that use one are extra checks: the same behaviour is proven on fixtures the tests build."""
    path = REALDATA / relative
    if not path.exists():
        pytest.skip(f"real-data file ../shared/realdata/{relative} is not present (extra check only)")
    return path


@pytest.fixture(scope="session")
def small_store(tmp_path_factory):
    """A store with the reference data and a 20k-incident scenario at a fixed time (shared, read-only)."""
    from borderwatch import demo
    from borderwatch.store import Store

    path = tmp_path_factory.mktemp("store")
    store = Store(path)
    demo.build_demo(store, seed=3, incidents=SMALL_INCIDENTS, now=NOW, chunk=7_000, show_progress=False)
    yield store
    store.close()


@contextlib.contextmanager
def demo_store(tmp_path_factory, name: str, *, seed: int, incidents: int):
    """A writable demo store of its own for a test module (sign-ins, sessions, audit entries)."""
    from borderwatch import demo
    from borderwatch.store import Store

    store = Store(tmp_path_factory.mktemp(name))
    demo.build_demo(store, seed=seed, incidents=incidents, now=NOW, chunk=incidents, show_progress=False)
    try:
        yield store
    finally:
        store.close()


@contextlib.contextmanager
def app_environment(monkeypatch, store, *unset: str):
    """The app (AppTest, in this process) pointed at ``store`` at NOW, signing in with local accounts,
    no live refresh; ``unset``: further variables to clear (a test's own defaults)."""
    from borderwatch import store as store_mod

    monkeypatch.setenv("BORDERWATCH_STORE", str(store.path))
    monkeypatch.setenv("BORDERWATCH_NOW", NOW.isoformat())
    monkeypatch.setenv("BORDERWATCH_REFRESH_SECONDS", "0")
    for name in ("BORDERWATCH_AUTH", *unset):
        monkeypatch.delenv(name, raising=False)
    store_mod.reset_default_store()
    try:
        yield store
    finally:
        store_mod.reset_default_store()


@pytest.fixture
def app_env(small_store, monkeypatch):
    """The app (AppTest) on the shared small store."""
    with app_environment(monkeypatch, small_store):
        yield small_store


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory):
    """The hand-made store of ``tests/tiny_store.py``: literal WKT, every row named (shared, read-only)."""
    import tiny_store as tiny

    store = tiny.build(tmp_path_factory.mktemp("tiny"))
    yield store
    store.close()


@pytest.fixture(scope="session")
def small_store_env(small_store):
    """Environment variables that point a child process (Streamlit, CLI) at the small store."""
    env = dict(os.environ)
    env["BORDERWATCH_STORE"] = str(small_store.path)
    env["BORDERWATCH_NOW"] = NOW.isoformat()
    env["BORDERWATCH_AUTH"] = "off"  # browser tests of pages; tests/test_access_browser.py signs in
    return env


# -- signing in (the app asks for an account unless BORDERWATCH_AUTH=off) ----------------------------
def sign_in(at, store=None, name: str = "test-admin", nation: str = "USA", role: str = "admin"):
    """Sign an AppTest session in as ``name`` (created in the store if missing), as the sign-in form
    would; returns the AppTest. Page tests use an admin so that every page is open to them."""
    from borderwatch import auth, sessions
    from borderwatch.store import default_store

    store = store or default_store()
    if auth.get(name, store) is None:
        auth.add_user(name, nation, role, by="tests", store=store)
        auth.change_password(name, "test-password-123", store=store)
    at.session_state["bw_signed_in"] = {"name": name, "sid": sessions.create(name, store=store)}
    return at

# -- PostgreSQL (see tests/pg.py) -------------------------------------------------------------
import pg  # noqa: E402


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server (Debian's binaries) on a free loopback port, for the session."""
    pytest.importorskip("psycopg", reason="psycopg is not installed (make setup)")
    if pg.binaries() is None:
        pytest.skip(pg.missing_reason())
    with pg.postgres_server() as server:
        yield server


@pytest.fixture
def pg_lake(postgres, tmp_path, monkeypatch):
    """A fresh PostgreSQL catalog database and a data directory, selected through the
    environment for this process and the child processes a test starts; yields that environment."""
    env = {"BORDERWATCH_CATALOG": postgres.create_database(), "BORDERWATCH_DATA_PATH": str(tmp_path / "lake-data")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env


# -- S3-compatible object storage (see tests/s3server.py) -------------------------------------
import s3server  # noqa: E402


@pytest.fixture(scope="session")
def s3():
    """A real S3-compatible server (moto's) on a free loopback port, for the session."""
    pytest.importorskip("moto.server", reason="moto[server] is not installed (make setup)")
    with s3server.s3_server() as server:
        yield server


@pytest.fixture
def s3_lake(s3, monkeypatch):
    """A fresh bucket as the store's data path (s3://BUCKET/lake/), selected through the
    environment for this process and its children; yields (server, bucket)."""
    bucket = s3.create_bucket()
    for key, value in s3.env(f"s3://{bucket}/lake/").items():
        monkeypatch.setenv(key, value)
    yield s3, bucket


@pytest.fixture(scope="module")
def feed_store(tmp_path_factory):
    """A store with the reference data only (nations, segments, agreements): one per test module."""
    from borderwatch import reference
    from borderwatch.store import Store

    store = Store(tmp_path_factory.mktemp("feedstore"))
    reference.load_into(store)
    yield store
    store.close()
