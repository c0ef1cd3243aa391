"""An incident's identity is its owner nation and its id: imports and feeds find repeats among the
same owner's rows only, so another nation's hidden row under the same id neither blocks a write
nor shows in any count, and every look-up by id answers with a row the viewer may see."""
from __future__ import annotations

import json

import pytest

import queries
from borderwatch import access, analysis, importer, locate, selection
from borderwatch.feeds import sources
from borderwatch.filters import Filter
from feed_helpers import env, hello, now_utc, iso, running, store, viewer, wait_until  # noqa: F401 (fixtures)

ALL = Filter(window="365d")
CSV = ("id,date,threat,lat,lon,reporting_nation\n"
       "x1,2026-10-30T08:00:00Z,smuggling,49.20,7.00,{nation}\n"
       "x2,2026-10-30T09:00:00Z,smuggling,49.21,7.01,{nation}\n")


def geojson(path, nation: str) -> None:
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [7.0 + k / 100, 49.2]},
                 "properties": {"id": f"g{k}", "date": "2026-10-30T08:00:00Z", "threat": "smuggling",
                                "reporting_nation": nation}} for k in (1, 2)]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")


def owned(store, ident: str) -> list[str]:
    """Owners of the stored rows under one id (the whole store, as its writers see it)."""
    rows = store.cursor().execute("SELECT coalesce(owner_nation, reporting_nation) FROM incidents "
                                  "WHERE incident_id = ? ORDER BY 1", [ident]).fetchall()
    return [r[0] for r in rows]


def run_import(store, path, nation: str, *, dry_run=False, source="shared-export", replace=False):
    with access.viewing_as(viewer(store, nation, "importer")):
        return importer.import_file("incidents", path, store, dry_run=dry_run, source_name=source, owner=nation,
                                    release=None, replace=replace)


@pytest.mark.parametrize("kind", ["csv", "geojson"])  # a staged (chunked) import and one read whole
def test_an_id_another_nation_owns_is_written_and_counted_as_new(env, tmp_path, kind):
    store = env
    deu, fra = tmp_path / f"deu.{kind}", tmp_path / f"fra.{kind}"
    if kind == "csv":
        deu.write_text(CSV.format(nation="DEU"), encoding="utf-8")
        fra.write_text(CSV.format(nation="FRA"), encoding="utf-8")
    else:
        geojson(deu, "DEU")
        geojson(fra, "FRA")
    source = f"shared-{kind}"
    first = run_import(store, deu, "DEU", source=source)
    assert (first.status, first.written, first.already_present) == ("imported", 2, 0)
    ids = sorted(queries.df("incident_ids", ALL, store=store).incident_id)
    ids = [i for i in ids if i.startswith(f"{source}:")]
    assert len(ids) == 2
    # FRA may not see DEU's rows: its dry run and its import count them nowhere
    dry = run_import(store, fra, "FRA", dry_run=True, source=source)
    assert dry.already_present == 0 and "already" not in dry.format_text()
    done = run_import(store, fra, "FRA", source=source)
    assert (done.written, done.already_present) == (2, 0)
    assert "already" not in done.format_text()
    assert all(owned(store, i) == ["DEU", "FRA"] for i in ids)
    # a re-import by FRA of its own rows is still "already present", and so is DEU's own
    dry = run_import(store, fra, "FRA", dry_run=True, source=source)
    again = run_import(store, fra, "FRA", source=source)
    assert dry.already_present == 2 and (again.written, again.already_present) == (0, 2)
    assert run_import(store, deu, "DEU", source=source).already_present == 2
    # replacing earlier imports from the source replaces the importer's own rows only
    replaced = run_import(store, fra, "FRA", source=source, replace=True)
    assert (replaced.replaced, replaced.written, replaced.already_present) == (2, 2, 0)
    assert all(owned(store, i) == ["DEU", "FRA"] for i in ids)
    # each nation sees its own row under each id, never the other's
    for nation in ("DEU", "FRA"):
        with access.viewing_as(viewer(store, nation, "analyst")):
            for ident in ids:
                detail = analysis.incident_detail(ident, store=store)
                assert detail["reporting_nation"] == nation
                assert locate.locate(ident, store=store).kind == "incident"
            page, total = analysis.incident_page(ALL, page_size=200, store=store)
            mine = page[page.incident_id.isin(ids)]
            assert len(mine) == 2 and set(mine.reporting_nation) == {nation}


def test_a_viewer_who_may_see_both_rows_gets_its_own_first(env, tmp_path):
    store = env
    deu, fra = tmp_path / "deu.csv", tmp_path / "fra.csv"
    deu.write_text(CSV.format(nation="DEU"), encoding="utf-8")
    fra.write_text(CSV.format(nation="FRA").replace("49.20,7.00", "49.30,7.10"), encoding="utf-8")  # apart on a map
    with access.viewing_as(viewer(store, "DEU", "importer")):
        importer.import_file("incidents", deu, store, source_name="both", owner="DEU",
                             release=access.Release(nations=("FRA",)))
    run_import(store, fra, "FRA", source="both")
    with access.viewing_as(viewer(store, "FRA", "analyst")):
        page, _ = analysis.incident_page(ALL, page_size=200, store=store)
        both = page[page.incident_id == "both:x1"]
        assert sorted(both.reporting_nation) == ["DEU", "FRA"]  # two rows, each once
        assert analysis.incident_detail("both:x1", store=store)["reporting_nation"] == "FRA"
        # a row chosen in the table (or on its map) is that owner's row
        assert set(both.owner_key) == {"DEU", "FRA"}
        chosen = both[both.owner_key == "DEU"].iloc[0]
        assert selection.identity(chosen) == ("both:x1", "DEU")
        assert analysis.incident_detail("both:x1", owner="DEU", store=store)["reporting_nation"] == "DEU"
        assert selection.clicked_row(page, {"lat": float(chosen.lat), "lng": float(chosen.lon)},
                                     "both:x1 — Smuggling").owner_key == "DEU"
        marked = [selection.is_selected(r, "both:x1", "DEU") for r in page.itertuples(index=False)]
        assert sum(marked) == 1
    with access.viewing_as(viewer(store, "DEU", "analyst")):
        assert analysis.incident_detail("both:x1", store=store)["reporting_nation"] == "DEU"
        page, _ = analysis.incident_page(ALL, page_size=200, store=store)
        assert list(page[page.incident_id == "both:x1"].reporting_nation) == ["DEU"]


def test_feed_sources_of_two_nations_may_use_one_id(env):
    import socket

    store = env
    deu = sources.add("deu_post_ids", "DEU", "owner", store=store)
    fra = sources.add("fra_post_ids", "FRA", "owner", store=store)

    def send(port, token, nation):
        line = {"id": "same-1", "time": iso(now_utc()), "lat": 49.2, "lon": 7.0, "threat_type": "smuggling",
                "reporting_nation": nation}
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(hello(token) + (json.dumps(line) + "\n").encode())

    with running(store) as svc:
        port = svc.ports["json-tcp"]
        send(port, deu, "DEU")
        assert wait_until(lambda: owned(store, "json:same-1") == ["DEU"], 10)
        send(port, fra, "FRA")
        assert wait_until(lambda: owned(store, "json:same-1") == ["DEU", "FRA"], 10)
        send(port, fra, "FRA")  # a re-send by the same source is still a repeat
        assert wait_until(lambda: svc.status()["counts"]["duplicates"] == 1, 10)
        assert svc.wait_idle()
        assert svc.status()["counts"]["stored"] == 2
    assert owned(store, "json:same-1") == ["DEU", "FRA"]
    for nation in ("DEU", "FRA"):
        with access.viewing_as(viewer(store, nation, "analyst")):
            assert analysis.incident_detail("json:same-1", store=store)["reporting_nation"] == nation
            # the window ends at the store's latest report, which other writers' commits move within
            # the store's short snapshot memo
            assert wait_until(lambda: list(queries.df("incident_ids", ALL, store=store).incident_id)
                              .count("json:same-1") == 1, 5)


def test_cot_out_uid_names_the_owner_so_two_nations_rows_stay_two_markers():
    import collections

    from borderwatch.feeds import cotout

    Row = collections.namedtuple("Row", "incident_id owner_key")
    uids = {cotout.event_uid(Row("json:same-1", owner)) for owner in ("DEU", "FRA")}
    assert uids == {"borderwatch.DEU.json:same-1", "borderwatch.FRA.json:same-1"}
    assert cotout.event_uid(Row("json:same-1", None)) == "borderwatch.json:same-1"  # neither owner nor nation


def test_an_account_imports_for_its_own_nation(env, tmp_path, capsys):
    """An account of a nation imports rows owned by its nation (so its counts only ever concern rows
    it may see); naming another owner is refused and writes nothing. The command line without --as
    acts for the whole store and keeps the reporting nation as the default owner."""
    from borderwatch import auth, cli

    store = env
    auth.add_user("fra-imp-ids", "FRA", "importer", store=store)
    deu, fra = tmp_path / "deu.csv", tmp_path / "fra.csv"
    deu.write_text(CSV.format(nation="DEU"), encoding="utf-8")
    fra.write_text(CSV.format(nation="DEU").replace("x1,", "y1,").replace("x2,", "y2,"), encoding="utf-8")
    assert cli.main(["import", "incidents", str(deu), "--source", "acct", "--json"]) == 0  # owner: DEU
    capsys.readouterr()
    # FRA's account imports the same ids, also reported by DEU: owned by FRA, written, nothing "already"
    assert cli.main(["import", "incidents", str(deu), "--source", "acct", "--as", "fra-imp-ids", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["written"], report["already_present"]) == (2, 0)
    assert owned(store, "acct:x1") == ["DEU", "FRA"]
    before = owned(store, "acct:y1")
    assert cli.main(["import", "incidents", str(fra), "--source", "acct", "--as", "fra-imp-ids", "--owner", "DEU"]) == 2
    assert "fra-imp-ids imports for FRA only" in capsys.readouterr().err
    assert owned(store, "acct:y1") == before == []
    assert access.import_owner(access.SYSTEM, None) is None and access.import_owner(access.SYSTEM, "DEU") == "DEU"


def test_the_import_page_says_an_account_imports_for_its_nation(env):
    from streamlit.testing.v1 import AppTest

    from conftest import ROOT, sign_in

    at = sign_in(AppTest.from_file(str(ROOT / "app.py"), default_timeout=120), env, name="fra-page-imp",
                 nation="FRA", role="importer").run()
    at.switch_page("pages/data.py").run()
    assert not at.exception, at.exception
    box = at.text_input(key="imp_owner")
    assert box.placeholder == "FRA (your nation)" and "imports for FRA only" in box.help


def test_one_row_per_identity_is_staged_in_table_order():
    import pyarrow as pa

    from borderwatch.incident_store import first_per_identity

    table = pa.table({"owner_nation": pa.array([None, None, None, "FRA", None], pa.string()),
                      "reporting_nation": pa.array([None, None, "FRA", None, "DEU"], pa.string()),
                      "incident_id": ["b", "b", "b", "b", "a"], "k": [1, 2, 3, 4, 5]})
    assert first_per_identity(table).column("k").to_pylist() == [1, 3, 5]  # no owner; FRA (twice); DEU
