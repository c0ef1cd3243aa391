"""The watched folder takes the identity of a registered feed source (``--watch-source``): its nation
owns what the files hold, released as the source says; a message claiming another nation is refused
and the file set aside with its reason; a revoked source's folder stops being read; and a folder
without a source starts only where that adds no trust (the store's own inbox, or --watch-open)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from borderwatch import audit
from borderwatch.feeds import describe, sources
from borderwatch.feeds.status import for_viewer
from conftest import ROOT
from feed_helpers import DECL, env, event, record, row, running, store, uid, viewer, wait_until  # noqa: F401


def drop(folder, name: str, data: bytes) -> None:
    """Write a file under a temporary name and rename it, as the docs ask."""
    (folder / f"{name}.tmp").write_bytes(data)
    os.replace(folder / f"{name}.tmp", folder / name)


def handled(folder, name: str) -> bool:
    return not (folder / name).exists()


def folder_line(status: dict) -> dict:
    return next(l for l in status["listeners"] if l["protocol"] == "folder")


def test_a_folder_read_as_a_source_takes_its_nation_and_releasability(env, tmp_path):
    store = env
    sources.add("deu_drop", "DEU", "FRA,schengen", store=store)
    folder = tmp_path / "drop"
    own, claim, cot_own = uid("own"), uid("claim"), uid("cotown")
    with running(store, json_tcp=None, watch_enabled=True, watch=folder, watch_source="deu_drop", poll_s=0.05) as svc:
        assert svc.watch_dir == folder
        drop(folder, "mixed.jsonl", record(own) + record(claim, reporting_nation="POL"))
        drop(folder, "cot.xml", DECL + event(cot_own))
        assert wait_until(lambda: handled(folder, "mixed.jsonl") and handled(folder, "cot.xml"), 10)
        only_claims = uid("claims")
        drop(folder, "claims.jsonl", record(only_claims, reporting_nation="USA"))
        assert wait_until(lambda: handled(folder, "claims.jsonl"), 10)
        assert svc.wait_idle()
        line = folder_line(svc.status())
    for ident in (f"json:{own}", f"cot:{cot_own}"):
        stored = row(store, ident)
        assert stored is not None, ident
        assert (stored["owner_nation"], stored["reporting_nation"]) == ("DEU", "DEU")
        assert (stored["release_nations"], stored["release_agreements"]) == (["FRA"], ["schengen"])
    assert row(store, f"json:{own}")["source"] == "deu_drop"
    assert row(store, f"json:{claim}") is None and row(store, f"json:{only_claims}") is None
    # a file with an accepted record is done; its refused record is listed with the reason
    assert (folder / "processed" / "mixed.jsonl").exists()
    assert "may not claim nation POL" in (folder / "rejected" / "mixed.jsonl.rejects.txt").read_text()
    # a file whose every message claims another nation is moved aside with its reason
    assert (folder / "rejected" / "claims.jsonl").exists()
    assert "may not claim nation USA" in (folder / "rejected" / "claims.jsonl.rejects.txt").read_text()
    assert wait_until(lambda: any("may not claim nation POL" in d for d in
                                  audit.entries(store, action="feed-refused", limit=50).detail), 5)
    assert (line["authentication"], line["source"], line["owner"], line["state"]) == \
        ("source", "deu_drop", "DEU", "reading")


def test_a_revoked_source_stops_its_folder_with_a_clear_status(env, tmp_path):
    store = env
    sources.add("pol_drop", "POL", "owner", store=store)
    folder = tmp_path / "drop"
    first, late = uid("first"), uid("late")
    with running(store, json_tcp=None, watch_enabled=True, watch=folder, watch_source="pol_drop", poll_s=0.05) as svc:
        drop(folder, "first.jsonl", record(first))
        assert wait_until(lambda: handled(folder, "first.jsonl"), 10)
        sources.revoke("pol_drop", store=store)
        assert wait_until(lambda: folder_line(svc.status())["state"] == "stopped", 10)
        drop(folder, "late.jsonl", record(late))
        status = svc.status() | {"running": True}
        assert not wait_until(lambda: handled(folder, "late.jsonl"), 1.0)  # left where it is, unread
        assert svc.wait_idle()
    assert row(store, f"json:{first}")["owner_nation"] == "POL"
    assert row(store, f"json:{late}") is None and (folder / "late.jsonl").exists()
    line = folder_line(status)
    assert "source pol_drop was revoked" in line["reason"] and "no longer read" in line["reason"]
    level, text = describe(status)
    assert level == "warn" and "watched folder not read (source pol_drop was revoked" in text
    # a viewer who is not an administrator sees that the folder is stopped, not the source's name
    shown = folder_line(for_viewer(status, viewer(store, "POL"), store))
    assert shown["state"] == "stopped" and "reason" not in shown and "source" not in shown
    assert "watched folder not read" in describe(for_viewer(status, viewer(store, "POL"), store))[1]
    # it does not start again for a revoked source, nor for one that does not exist
    with pytest.raises(OSError, match="pol_drop: the feed source is revoked"):
        with running(store, json_tcp=None, watch_enabled=True, watch=folder, watch_source="pol_drop"):
            pass
    with pytest.raises(OSError, match="no_such_drop: no feed source of that name"):
        with running(store, json_tcp=None, watch_enabled=True, watch=folder, watch_source="no_such_drop"):
            pass


def test_a_folder_without_a_source_starts_only_where_that_adds_no_trust(env, tmp_path):
    store = env
    folder = tmp_path / "shared-drop"
    with pytest.raises(OSError, match="has no sender identity: give --watch-source NAME"):
        with running(store, json_tcp=None, watch_enabled=True, watch=folder):
            pass
    assert not folder.exists()  # nothing created
    plain = uid("plain")
    with running(store, json_tcp=None, watch_enabled=True, watch=folder, watch_open=True, nation="MEX",
                 poll_s=0.05) as svc:  # today's behaviour, asked for: --nation owns what states none
        drop(folder, "plain.jsonl", record(plain))
        assert wait_until(lambda: handled(folder, "plain.jsonl"), 10)
        assert svc.wait_idle()
        line = folder_line(svc.status())
    assert (line["authentication"], line["source"], line["owner"]) == ("none", None, "MEX")
    assert row(store, f"json:{plain}")["reporting_nation"] == "MEX"
    with running(store, json_tcp=None, watch_enabled=True) as svc:  # the store's own inbox needs neither
        assert svc.watch_dir == svc.dir / "inbox" and folder_line(svc.status())["state"] == "reading"


def test_the_command_line_refuses_a_folder_without_identity_in_one_sentence(env, tmp_path):
    store = env
    run_env = dict(os.environ, BORDERWATCH_STORE=str(store.path), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "borderwatch.cli", "feeds", "--cot-tcp", "off", "--cot-udp", "off",
                           "--json-tcp", "off", "--watch", str(tmp_path / "drop")],
                          cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"borderwatch: the watched folder {tmp_path / 'drop'} has no sender identity: give --watch-source NAME "
        "(a feed source, borderwatch sources add) or --watch-open to trust whoever can write into it")


def test_the_administration_page_says_whom_the_folder_is_read_as(env, tmp_path):
    from streamlit.testing.v1 import AppTest

    from conftest import sign_in

    store = env
    sources.add("esp_drop", "ESP", "owner", store=store)
    folder = tmp_path / "drop"
    with running(store, json_tcp=None, watch_enabled=True, watch=folder, watch_source="esp_drop") as svc:
        svc.write_status()
        at = sign_in(AppTest.from_file(str(ROOT / "app.py"), default_timeout=120), store, name="folder-admin").run()
        at.switch_page("pages/admin.py").run()
    assert not at.exception, at.exception
    words = [c.value.replace("\\", "") for c in at.caption if "Watched folder" in c.value]
    assert words == [f"Watched folder {folder}: read as feed source esp_drop (owned by ESP, released as the source "
                     "says; a message claiming another nation is refused)."]


def test_folder_words_for_each_state():
    from borderwatch.feeds.status import folder_words

    base = {"path": "/srv/drop", "protocol": "folder"}
    assert folder_words(base | {"state": "stopped", "reason": "source x was revoked: the watched folder is no "
                                                              "longer read"}) == \
        "Watched folder /srv/drop: not read — source x was revoked: the watched folder is no longer read."
    assert "no sender identity" in folder_words(base | {"state": "reading", "source": None, "owner": "MEX"})
    assert "else MEX" in folder_words(base | {"state": "reading", "source": None, "owner": "MEX"})
