"""A sensor's or fortification's identity is its owner nation and its id, as an incident's is: an
import finds repeats among the same owner's rows only, so another nation's hidden row under the
same id neither blocks the write nor shows in any count; rows are written already owned and
released; a replace removes the importer's own rows only; a feed's detection moves only the
sensor of its own owner; a sensor-status alert tells two owners' sensors apart."""
from __future__ import annotations

import datetime as dt
import json

import pytest

import queries
from borderwatch import access, alerts, importer
from borderwatch.feeds import writer
from borderwatch.filters import Filter
from feed_helpers import env, store, viewer  # noqa: F401 (fixtures)

ALL = Filter(window="365d")
VIEW = {"vw": 6.5, "vs": 48.9, "ve": 7.5, "vn": 49.5, "grid": 0.0001, "tolerance": 0.0001, "max_rows": 500}
LAYERS = {"sensors": ("sensor_id", "sensors_in_view"), "fortifications": ("fortification_id", "fortifications_in_view")}


def site_file(path, layer: str, nation: str) -> None:
    """Two sites of ``nation`` (ids s1, s2), their names saying whose they are."""
    features = []
    for k in (1, 2):
        props = {"name": f"{nation} site {k}", "nation": nation}
        if layer == "sensors":
            props.update(sensor_id=f"s{k}", sensor_type="radar", status="offline", range_m=3000)
        else:
            props.update(fortification_id=f"s{k}", kind="watchtower")
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [7.0 + k / 100, 49.2]},
                         "properties": props})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")


def owners(store, layer: str, ident: str) -> list[tuple]:
    """(owner, releasability, reported) of the stored rows under one id (the whole store)."""
    id_col = LAYERS[layer][0]
    return store.cursor().execute(
        f"SELECT coalesce(owner_nation, nation), owner_nation, release_nations, reported_at IS NOT NULL "
        f"FROM {layer} WHERE {id_col} = ? ORDER BY 1", [ident]).fetchall()


def run_import(store, layer, path, nation, *, dry_run=False, replace=False, source="shared-sites", release=None):
    with access.viewing_as(viewer(store, nation, "importer")):
        return importer.import_file(layer, path, store, dry_run=dry_run, source_name=source, owner=nation,
                                    release=release, replace=replace)


def seen_names(store, layer: str, nation: str) -> list[str]:
    with access.viewing_as(viewer(store, nation, "analyst")):
        return sorted(queries.df(LAYERS[layer][1], ALL, store=store, **VIEW).name)


@pytest.mark.parametrize("layer", list(LAYERS))
def test_an_id_another_nation_owns_is_written_and_counted_as_new(env, tmp_path, layer):
    store = env
    source = f"shared-{layer}"
    deu, fra = tmp_path / "deu.geojson", tmp_path / "fra.geojson"
    site_file(deu, layer, "DEU")
    site_file(fra, layer, "FRA")
    first = run_import(store, layer, deu, "DEU", source=source)
    assert (first.status, first.written, first.already_present) == ("imported", 2, 0)
    ids = [f"{source}:s1", f"{source}:s2"]
    assert all(owners(store, layer, i) == [("DEU", "DEU", None, True)] for i in ids)  # owned at the write
    # FRA may not see DEU's rows: its dry run and its import count them nowhere, and its rows are written
    dry = run_import(store, layer, fra, "FRA", dry_run=True, source=source)
    assert dry.already_present == 0 and "already" not in dry.format_text()
    done = run_import(store, layer, fra, "FRA", source=source, release=access.Release(nations=("BEL",)))
    assert (done.written, done.already_present) == (2, 0) and "already" not in done.format_text()
    assert all(owners(store, layer, i) == [("DEU", "DEU", None, True), ("FRA", "FRA", ["BEL"], True)] for i in ids)
    # a re-import by FRA of its own rows is "already present", and so is DEU's own
    assert run_import(store, layer, fra, "FRA", dry_run=True, source=source).already_present == 2
    again = run_import(store, layer, fra, "FRA", source=source)
    assert (again.written, again.already_present) == (0, 2)
    assert run_import(store, layer, deu, "DEU", source=source).already_present == 2
    # each nation sees its own rows under the ids, never the other's (BEL: FRA's, released to it)
    assert seen_names(store, layer, "DEU") == ["DEU site 1", "DEU site 2"]
    assert seen_names(store, layer, "FRA") == ["FRA site 1", "FRA site 2"]
    assert seen_names(store, layer, "BEL") == ["FRA site 1", "FRA site 2"]
    # replacing earlier imports from the source replaces the importer's own rows only
    replaced = run_import(store, layer, fra, "FRA", source=source, replace=True)
    assert (replaced.replaced, replaced.written, replaced.already_present) == (2, 2, 0)
    assert all([o for o, *_ in owners(store, layer, i)] == ["DEU", "FRA"] for i in ids)
    assert seen_names(store, layer, "DEU") == ["DEU site 1", "DEU site 2"]


def test_a_detection_moves_only_its_own_owners_sensor_and_alerts_tell_owners_apart(env, tmp_path):
    store = env
    source = "heard-sites"
    for nation in ("DEU", "FRA"):
        path = tmp_path / f"{nation}.geojson"
        site_file(path, "sensors", nation)
        release = access.Release(nations=("FRA",)) if nation == "DEU" else None  # FRA may see both
        assert run_import(store, "sensors", path, nation, source=source, release=release).written == 2
    ident = f"{source}:s1"

    def heard() -> dict:
        return dict(store.cursor().execute("SELECT coalesce(owner_nation, nation), last_heard_at FROM sensors "
                                           "WHERE sensor_id = ?", [ident]).fetchall())

    before = heard()
    at = max(before.values()) + dt.timedelta(hours=1)
    # a FRA feed source's detection (owner FRA) moves FRA's sensor only
    writer.heard_from(store, [{"extra": {"sensor_id": ident}, "occurred_at": at.isoformat(), "owner_nation": "FRA",
                               "reporting_nation": "DEU"}])
    now = heard()
    assert now["FRA"] == at and now["DEU"] == before["DEU"]
    # a record without an owner: its reporting nation's sensor
    writer.heard_from(store, [{"extra": {"sensor_id": ident}, "occurred_at": (at + dt.timedelta(hours=1)).isoformat(),
                               "reporting_nation": "DEU"}])
    assert heard() == {"FRA": at, "DEU": at + dt.timedelta(hours=1)}
    # a FRA rule sees both offline sensors under the id (DEU's is released to FRA): two causes;
    # a DEU rule sees its own only
    fra_rule = alerts.add_rule("sensor_status", {"status": "offline"}, nation="FRA", hold_off_min=60,
                               viewer=access.SYSTEM, store=store)
    deu_rule = alerts.add_rule("sensor_status", {"status": "offline"}, nation="DEU", hold_off_min=60,
                               viewer=access.SYSTEM, store=store)
    when = at + dt.timedelta(hours=2)
    fra_causes = {a["cause"] for a in alerts.evaluate(store, when, rule_id=fra_rule)}
    assert {f"DEU/{ident}:offline", f"FRA/{ident}:offline"} <= fra_causes
    deu_causes = {a["cause"] for a in alerts.evaluate(store, when, rule_id=deu_rule)}
    assert f"DEU/{ident}:offline" in deu_causes and not any(c.startswith("FRA/") for c in deu_causes)


def test_an_account_imports_sites_owned_by_its_nation_from_the_command_line(env, tmp_path, capsys):
    """``borderwatch import fortifications --as`` writes FRA-owned rows under ids DEU already owns,
    reported as new; the command line's --release-to is on the rows as they are written."""
    from borderwatch import auth, cli

    store = env
    auth.add_user("fra-imp-sites", "FRA", "importer", store=store)
    deu, fra = tmp_path / "deu.geojson", tmp_path / "forts.geojson"
    site_file(deu, "fortifications", "DEU")
    site_file(fra, "fortifications", "DEU")  # FRA's account imports the same file: owned by FRA all the same
    assert run_import(store, "fortifications", deu, "DEU", source="cli-forts").written == 2
    assert cli.main(["import", "fortifications", str(fra), "--source", "cli-forts", "--as", "fra-imp-sites",
                     "--release-to", "BEL", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["written"], report["already_present"]) == (2, 0)
    assert owners(store, "fortifications", "cli-forts:s1") == [("DEU", "DEU", None, True), ("FRA", "FRA", ["BEL"], True)]
    assert cli.main(["import", "fortifications", str(fra), "--source", "cli-forts", "--as", "fra-imp-sites",
                     "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["already_present"] == 2
