"""Shared fixtures: one small deterministic store per test session."""
from __future__ import annotations

import datetime as dt
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
REALDATA = SHARED / "realdata"
NOW = dt.datetime(2026, 11, 1, 12, 0, 0)
SMALL_INCIDENTS = 20_000


@pytest.fixture(scope="session")
def small_store(tmp_path_factory):
    """A store with the reference data and a 20k-incident scenario at a fixed time."""
    from borderwatch import demo
    from borderwatch.store import Store

    path = tmp_path_factory.mktemp("store")
    store = Store(path)
    demo.build_demo(store, seed=3, incidents=SMALL_INCIDENTS, now=NOW, chunk=7_000, show_progress=False)
    yield store
    store.close()


@pytest.fixture(scope="session")
def small_store_env(small_store):
    """Environment variables that point a child process (Streamlit, CLI) at the small store."""
    env = dict(os.environ)
    env["BORDERWATCH_STORE"] = str(small_store.path)
    env["BORDERWATCH_NOW"] = NOW.isoformat()
    return env
