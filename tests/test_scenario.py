"""The synthetic scenario: deterministic, labelled, plausible (clusters, rhythms, sensors at borders)."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from borderwatch import demo, scenario
from borderwatch.store import Store, StoreError
from conftest import NOW, ROOT, SMALL_INCIDENTS


@pytest.fixture(scope="module")
def incidents(small_store):
    return small_store.cursor().execute("SELECT * FROM incidents").fetch_df()


def test_every_scenario_row_is_labelled_synthetic(small_store, incidents):
    assert len(incidents) == SMALL_INCIDENTS
    assert incidents.synthetic.all() and (incidents.dataset == "scenario").all()
    assert incidents.description.str.endswith("[synthetic]").all()
    cur = small_store.cursor()
    for table in ("sensors", "fortifications"):
        assert cur.execute(f"SELECT bool_and(synthetic), count(*) FROM {table}").fetchone()[0] is True


def test_descriptions_count_people_and_items_in_good_english(incidents):
    text = incidents.description
    assert text.str.contains(r"\b1 persons\b|\b1 items\b").sum() == 0
    assert text.str.contains(r"Group of 1 person crossing").any()  # group sizes start at one
    assert text.str.contains(r"Group of (?:[2-9]|\d\d) persons crossing").any()


def test_times_are_utc_and_never_in_the_future(incidents):
    assert incidents.occurred_at.max() <= NOW
    assert incidents.occurred_at.min() >= NOW - dt.timedelta(days=scenario.HISTORY_DAYS + 1)


def test_incidents_carry_segment_nations_and_agreements(incidents):
    assert incidents.segment_id.notna().all()
    a_b = incidents.segment_id.str.split("-", expand=True)
    assert (a_b[0] == incidents.nation_a).all() and (a_b[1] == incidents.nation_b).all()
    assert (incidents.reporting_nation.eq(incidents.nation_a) | incidents.reporting_nation.eq(incidents.nation_b)).all()
    schengen_internal = incidents[incidents.segment_id == "DEU-FRA"]
    if len(schengen_internal):
        assert all("schengen" in list(x) for x in schengen_internal.shared_under)
    assert incidents.h3.notna().all() and incidents.severity.between(1, 4).all()


def test_incidents_cluster_at_hotspots(incidents):
    # H3 resolution 5 cells (~250 km2): a few cells hold most incidents
    parent = incidents.h3.astype("uint64").map(lambda c: (c & ~(15 << 52)) | (5 << 52) | ((1 << 30) - 1))
    counts = parent.value_counts()
    top = counts.head(max(1, len(counts) // 10)).sum()
    assert top / len(incidents) > 0.5


def test_crossings_peak_at_night_local_time(incidents):
    crossings = incidents[incidents.threat_type == "illegal_crossing"]
    local_hour = (crossings.occurred_at.dt.hour + np.round(crossings.lon / 15)).astype(int) % 24
    night = local_hour.isin([22, 23, 0, 1, 2, 3, 4]).mean()
    day = local_hour.isin([10, 11, 12, 13, 14, 15, 16]).mean()
    assert night > 1.5 * day


def test_summer_is_busier_than_winter(incidents):
    month = incidents.occurred_at.dt.month
    assert month.isin([6, 7, 8]).sum() > 1.2 * month.isin([12, 1, 2]).sum()


def test_sensors_sit_near_borders(small_store):
    cur = small_store.cursor()
    far = cur.execute("""
        SELECT count(*) FROM sensors s JOIN segments g USING (segment_id)
        WHERE ST_Distance_Sphere(ST_Point(s.lon, s.lat), ST_ClosestPoint(g.geom, ST_Point(s.lon, s.lat))) > 5000
    """).fetchone()[0]
    assert far == 0
    stats = cur.execute("SELECT min(range_m), max(range_m), count(DISTINCT status), count(DISTINCT sensor_type) FROM sensors").fetchone()
    assert stats[0] >= 300 and stats[1] <= 60_000 and stats[2] == 3 and stats[3] >= 5
    # coverage polygons are geodesic: a 360-degree sensor's polygon spans 2 x range in metres
    row = cur.execute("""SELECT range_m, ST_Distance_Sphere(ST_Point(ST_XMin(coverage), lat), ST_Point(ST_XMax(coverage), lat))
                         FROM sensors WHERE fov_deg = 360 ORDER BY range_m DESC LIMIT 1""").fetchone()
    assert row[1] == pytest.approx(2 * row[0], rel=0.03)


def test_fortifications_follow_segments(small_store):
    cur = small_store.cursor()
    kinds = dict(cur.execute("SELECT kind, count(*) FROM fortifications GROUP BY 1").fetchall())
    assert {"checkpoint", "border_post", "watchtower", "fence"} <= set(kinds)
    off = cur.execute("""SELECT count(*) FROM fortifications f JOIN segments g USING (segment_id)
                         WHERE ST_Distance(f.geom, g.geom) > 0.05""").fetchone()[0]
    assert off == 0


def test_same_seed_same_scenario(tmp_path):
    frames = []
    for name in ("a", "b"):
        store = Store(tmp_path / name)
        demo.build_demo(store, seed=9, incidents=3000, now=NOW, chunk=1000, show_progress=False)
        frames.append(store.cursor().execute(
            "SELECT * EXCLUDE (ingested_at) FROM incidents ORDER BY incident_id").fetch_df())
        store.close()
    pd.testing.assert_frame_equal(frames[0], frames[1])


def test_demo_command_and_missing_extension_message(tmp_path):
    env = {"BORDERWATCH_STORE": str(tmp_path / "cli"), "PYTHONPATH": str(ROOT), "HOME": str(tmp_path / "home"),
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "borderwatch.cli", "demo", "--incidents", "1500", "--seed", "2",
                          "--now", "2026-11-01T12:00"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert '"incidents": 1500' in out.stdout and "1,500 / 1,500" in out.stderr
    again = subprocess.run([sys.executable, "-m", "borderwatch.cli", "demo", "--if-absent"], capture_output=True,
                           text=True, env=env, timeout=300)
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_missing_extension_is_explained_in_one_sentence(monkeypatch, tmp_path):
    from borderwatch import connections

    monkeypatch.setattr(connections, "_EXTENSIONS", {"nonexistent": ("duckdb_extension_nonexistent", "nonexistent")})
    with pytest.raises(StoreError, match=r"^DuckDB extension package 'duckdb-extension-nonexistent' is not installed"):
        connections.new_connection()
