"""Feed sources: tokens for JSON lines, certificates for CoT over TLS, the nation a source reports
for, revocation and rotation, loopback-only unauthenticated listeners, the command line."""
from __future__ import annotations

import contextlib
import socket
import ssl
import time

import pytest

from borderwatch import access, audit, cli
from borderwatch.feeds import describe, sources
from borderwatch.feeds.service import FeedConfig, FeedService
from feed_helpers import (DECL, EL_PASO, _certs, env, event, hello, iso, now_utc, record, refusals,  # noqa: F401
                          refused_when_sending, row, running, store, stored, uid, wait_until)


def test_sources_command_line(env, capsys, tmp_path):
    store = env
    assert cli.main(["sources", "add", "cli_radar", "--nation", "usa", "--release-to", "MEX,schengen"]) == 0
    token = capsys.readouterr().out.rsplit(": ", 1)[1].strip()
    src = sources.get("cli_radar", store)
    assert (src.nation, src.release.nations, src.release.agreements) == ("USA", ("MEX",), ("schengen",))
    assert token.startswith(sources.TOKEN_PREFIX) and src.token_hash == sources.token_hash(token)
    # the catalog and the listing never hold the token itself
    dump = str(store.cursor().execute("SELECT * FROM feed_sources").fetchall())
    assert token not in dump
    assert cli.main(["sources", "list"]) == 0
    listing = capsys.readouterr().out
    assert "cli_radar" in listing and "REL TO MEX, schengen" in listing and token not in listing
    # bad input: a clear message, nothing written
    before = len(sources.list_sources(store))
    for argv, msg in ((["add", "cli_radar", "--nation", "USA"], "exists already"),
                      (["add", "Bad Name", "--nation", "USA"], "lower-case"),
                      (["add", "x1", "--nation", "XXX"], "not a nation"),
                      (["add", "x2", "--nation", "USA", "--release-to", "nowhere"], "'nowhere'"),
                      (["add", "x3", "--nation", "USA", "--cert", str(tmp_path / "none.pem")], "PEM"),
                      (["revoke", "nobody"], "no feed source"), (["rotate", "nobody"], "no feed source")):
        assert cli.main(["sources", *argv]) == 2
        assert msg in capsys.readouterr().err, argv
    assert len(sources.list_sources(store)) == before
    assert cli.main(["sources", "rotate", "cli_radar"]) == 0
    new = capsys.readouterr().out.rsplit(": ", 1)[1].strip()
    assert new != token and sources.get("cli_radar", store).token_hash == sources.token_hash(new)
    assert cli.main(["sources", "certificate", "cli_radar", "sha256:" + "ab" * 32]) == 0
    assert sources.get("cli_radar", store).cert_sha256 == "ab" * 32
    assert cli.main(["sources", "revoke", "cli_radar"]) == 0
    assert sources.get("cli_radar", store).revoked
    assert cli.main(["sources", "revoke", "cli_radar"]) == 2 and "revoked already" in capsys.readouterr().err
    assert cli.main(["sources", "rotate", "cli_radar"]) == 2
    log = audit.entries(store, limit=50)
    mine = log[log.detail.str.startswith("cli_radar")]
    assert {"source-added", "source-rotated", "source-certificate", "source-revoked"} <= set(mine.action)
    assert not audit.verify(store)


def test_json_source_wrong_missing_right_claimed_and_revoked_tokens(env):
    store = env
    token = sources.add("radar_elp", "USA", "MEX", store=store)
    with running(store) as svc:
        port = svc.ports["json-tcp"]
        assert svc.status()["listeners"][0]["authentication"] == "token"
        # a wrong token and no token: the connection is refused, audited, nothing stored
        wrong, missing = uid("wrong"), uid("missing")
        assert refused_when_sending(port, hello("bwfs_not-a-token"), record(wrong))
        assert refused_when_sending(port, record(missing))
        assert wait_until(lambda: len([d for d in refusals(store) if "json-tcp" in d]) >= 2, 5)
        assert any("wrong token" in d for d in refusals(store))
        assert any("first line must be" in d for d in refusals(store))
        # the right token: the source's nation owns it, its releasability applies, its name is the source;
        # a line claiming another nation is refused (audited), its neighbours go through
        ok, claim, after = uid("ok"), uid("claim"), uid("after")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(hello(token) + record(ok) + record(claim, reporting_nation="MEX") + record(after))
        assert wait_until(lambda: stored(store, [f"json:{ok}", f"json:{after}"]) and svc.wait_idle(), 10)
        got = row(store, f"json:{ok}")
        assert (got["reporting_nation"], got["owner_nation"], got["release_public"], got["release_nations"],
                got["source"]) == ("USA", "USA", False, ["MEX"], "radar_elp")
        assert row(store, f"json:{after}") is not None and row(store, f"json:{claim}") is None
        assert wait_until(lambda: any("may not claim nation MEX" in d for d in refusals(store)), 5)
        # who may see it: the owner and MEX, not DEU
        mem = access.Memberships.load(store)
        seen = {n: access.visible(got, "incident", access.viewer_for("x", n, "viewer", store, mem))
                for n in ("USA", "MEX", "DEU")}
        assert seen == {"USA": True, "MEX": True, "DEU": False}
        # revoked: a new connection is refused, and an open one is closed at its next message
        early, late, dead = uid("early"), uid("late"), uid("dead")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(hello(token) + record(early))
            assert wait_until(lambda: stored(store, [f"json:{early}"]), 10)
            sources.revoke("radar_elp", store=store)
            time.sleep(0.3)
            s.sendall(record(late))
            assert s.recv(1) == b""
        assert refused_when_sending(port, hello(token), record(dead))
        svc.wait_idle()
        assert not stored(store, [f"json:{late}", f"json:{dead}"])
        assert wait_until(lambda: any("revoked" in d for d in refusals(store)), 5)
    assert not audit.verify(store)


def test_rotated_token_replaces_the_old_one(env):
    store = env
    old = sources.add("thermal_rot", "MEX", "public", store=store)
    new = sources.rotate("thermal_rot", store=store)
    with running(store) as svc:
        port = svc.ports["json-tcp"]
        a, b = uid("old"), uid("new")
        assert refused_when_sending(port, hello(old), record(a))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(hello(new) + record(b))
        assert wait_until(lambda: stored(store, [f"json:{b}"]), 10)
        assert not stored(store, [f"json:{a}"])
        assert row(store, f"json:{b}")["release_public"] is True


def test_unauthenticated_listeners_stay_on_loopback(env):
    store = env

    def binds(svc):
        return {l["name"]: (l["bind"], l["authentication"]) for l in svc.status()["listeners"]}

    with running(store, bind="0.0.0.0", cot_tcp=0, cot_udp=0) as svc:
        assert binds(svc) == {"cot-tcp": ("127.0.0.1", "none"), "json-tcp": ("0.0.0.0", "token"),
                              "cot-udp": ("127.0.0.1", "none")}
        assert svc.listeners["cot-tcp"].sock.getsockname()[0] == "127.0.0.1"
        assert svc.listeners["json-tcp"].sock.getsockname()[0] == "0.0.0.0"
    with running(store, bind="0.0.0.0", cot_tcp=0, json_open=True) as svc:
        assert binds(svc) == {"cot-tcp": ("127.0.0.1", "none"), "json-tcp": ("127.0.0.1", "none")}
        assert "open to other machines" not in describe(svc.status() | {"running": True})[1]
    with running(store, bind="0.0.0.0", cot_tcp=0, json_open=True, open_remote=True) as svc:
        assert binds(svc) == {"cot-tcp": ("0.0.0.0", "none"), "json-tcp": ("0.0.0.0", "none")}
        assert svc.listeners["cot-tcp"].sock.getsockname()[0] == "0.0.0.0"
        level, line = describe(svc.status() | {"running": True})
        assert level == "warn" and "cot-tcp, json-tcp without authentication open to other machines" in line
    from borderwatch.cli import build_parser

    args = build_parser().parse_args(["feeds"])
    assert (args.bind, args.open_remote, args.json_open) == ("127.0.0.1", False, False)


def test_open_json_listener_still_checks_a_token_it_is_sent(env):
    store = env
    with running(store, json_open=True) as svc:
        plain, bad = uid("plain"), uid("bad")
        with socket.create_connection(("127.0.0.1", svc.ports["json-tcp"]), timeout=5) as s:
            s.sendall(record(plain))
        assert refused_when_sending(svc.ports["json-tcp"], hello("bwfs_wrong"), record(bad))
        assert wait_until(lambda: stored(store, [f"json:{plain}"]), 10)
        assert row(store, f"json:{plain}")["owner_nation"] is None  # the default rule: owner = reporting nation
        assert not stored(store, [f"json:{bad}"])


def test_tls_certificate_of_a_feed_source(env, tmp_path):
    store = env
    c = _certs(tmp_path)
    sources.add("tower_cam", "MEX", "USA", cert=c["unlisted"][0], store=store)  # CN=INTRUDER, in no allow-list
    with running(store, json_tcp=None, cot_tls=0, tls_cert=c["server"][0], tls_key=c["server"][1],
                 tls_ca=c["ca"]) as svc:
        ctx = ssl.create_default_context(cafile=c["ca"])
        ctx.load_cert_chain(*c["unlisted"])
        good, claim = uid("tlsok"), uid("tlsclaim")
        with socket.create_connection(("127.0.0.1", svc.ports["cot-tls"]), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(DECL + event(good) + event(claim, detail='<borderwatch nation="USA"/>'))
        assert wait_until(lambda: stored(store, [f"cot:{good}"]) and svc.wait_idle(), 10)
        got = row(store, f"cot:{good}")
        assert (got["owner_nation"], got["release_nations"], got["source"]) == ("MEX", ["USA"], "tower_cam")
        assert not stored(store, [f"cot:{claim}"])
        assert wait_until(lambda: any("may not claim nation USA" in d for d in refusals(store)), 5)
        sources.revoke("tower_cam", store=store)
        time.sleep(0.3)
        after = uid("tlsrevoked")
        with contextlib.suppress(OSError):
            with socket.create_connection(("127.0.0.1", svc.ports["cot-tls"]), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    s.sendall(event(after))
                    s.recv(1)
        assert wait_until(lambda: any("is not a feed source's" in d for d in refusals(store)), 5)
        assert not stored(store, [f"cot:{after}"])


def test_tls_without_allow_list_or_source_certificates_is_refused(tmp_path):
    from borderwatch.store import Store

    st = Store(tmp_path / "store")  # no feed source, no allow-list file
    c = _certs(tmp_path)
    with pytest.raises(OSError, match="--tls-clients or a feed source with a certificate"):
        FeedService(st, FeedConfig(cot_tcp=None, cot_udp=None, json_tcp=None, watch_enabled=False, cot_tls=0,
                                   tls_cert=c["server"][0], tls_key=c["server"][1], tls_ca=c["ca"])).start()
    st.close()


def test_refusals_beyond_the_audit_budget_are_counted_not_lost(env, monkeypatch):
    store = env
    monkeypatch.setattr(sources, "AUDIT_PER_MINUTE", 3)
    before = len(refusals(store))
    gate = sources.Gate(store)
    for k in range(10):
        gate.refuse("json-tcp", f"10.9.9.{k}:5000", "wrong token: connection refused")
    gate.close()
    got = refusals(store)[: len(refusals(store)) - before]  # newest first
    assert len(got) == 4 and "7 more refusals within a minute" in got[0]
    assert not audit.verify(store)


def test_a_source_may_release_one_record_differently_nobody_else_may(env):
    store = env
    token = sources.add("release_src", "USA", "owner", store=store)
    with running(store, json_open=True) as svc:
        port = svc.ports["json-tcp"]
        pub, named, bad, unknown, anon = (uid(t) for t in ("pub", "named", "bad", "unknown", "anon"))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(hello(token) + record(pub, release_to="public") + record(named, release_to="MEX,schengen")
                      + record(bad, release_to="greece") + record(unknown, release_to="XXY"))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(record(anon, release_to="public"))  # no token: may not release anything
        assert wait_until(lambda: len(stored(store, [f"json:{pub}", f"json:{named}"])) == 2, 10)
        assert svc.wait_idle()
        assert row(store, f"json:{pub}")["release_public"] is True
        got = row(store, f"json:{named}")
        assert (got["release_public"], got["release_nations"], got["release_agreements"]) == (False, ["MEX"], ["schengen"])
        reasons = " | ".join(r["reason"] for r in svc.status()["rejects"])
        assert "release_to entry 'greece'" in reasons and "XXY not a nation in the store" in reasons
        assert "release_to is accepted only from a feed source" in reasons
        assert not stored(store, [f"json:{bad}", f"json:{unknown}", f"json:{anon}"])
