"""``borderwatch bench``: server time and payload of a live-map rerun, against a naive baseline.

For each incident count, a scenario store is built (or reused), then a series of filter changes
is replayed the way the live page does it (headline figures + every layer + the map document
streamlit-folium sends). Two naive baselines run in the same process on the same store:

- naive: what a straightforward page does on every rerun — read the incidents into a
  GeoDataFrame, filter them in pandas, draw them with folium's HeatMap;
- naive cached: the same with the GeoDataFrame kept in memory between reruns (its load counted
  once), i.e. the best case for that design.
Both draw only the incidents; ours also draws segments, sensors, fortifications and figures.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import pathlib
import resource
import statistics
import sys
import tempfile
import time

from borderwatch.filters import Filter

NAME = "bench"
DESCRIPTION = __doc__
HELP = "time live-map reruns and payloads at several incident counts, against a naive baseline"
FORMATTER = argparse.RawDescriptionHelpFormatter

FILTERS = (
    Filter(window="7d"),
    Filter(window="30d", nations=("USA", "MEX")),
    Filter(window="30d", threat_types=("drug_trafficking", "smuggling"), min_severity=2),
    Filter(window="24h"),
    Filter(window="30d", agreements=("schengen",), scope="external"),
    Filter(window="365d", threat_types=("armed_incursion", "drone_incursion")),
)


def _views():
    from layers.base import View

    return (View(), View.around(31.5, -108.0, 6), View.around(41.0, 26.5, 8))


def ours(store, now, flt, view) -> tuple[float, int]:
    """One rerun of the live page's map fragment: figures, layers, and the map document."""
    from borderwatch.views import live_map
    from layers import adapter
    from layers.base import MapContext

    t0 = time.perf_counter()
    ctx = MapContext(flt, view, now, since=now - dt.timedelta(seconds=30), store=store)
    ctx.situation.headline()
    m = live_map.base_map(ctx)
    groups = live_map.layers_for(ctx)
    m.render()
    script = adapter.map_document(m)
    payload = len(script) + len(m.get_root().header.render()) + len(m.get_root().html.render())
    for idx, fg in enumerate(groups):
        payload += len(adapter.feature_group_script(fg.group, m, idx=idx))
    return time.perf_counter() - t0, payload


def naive_load(store):
    import geopandas as gpd

    t0 = time.perf_counter()
    df = store.cursor().execute(
        "SELECT incident_id, occurred_at, threat_type, severity, reporting_nation, nation_a, nation_b, segment_id, "
        "lon, lat FROM incidents").fetch_df()
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs="EPSG:4326")
    scopes = store.cursor().execute("SELECT segment_id, agreement_id, scope FROM segment_agreements").fetch_df()
    return gdf, scopes, time.perf_counter() - t0


def naive_uncached(store, now, flt, view) -> tuple[float, int]:
    t0 = time.perf_counter()
    gdf, scopes, _ = naive_load(store)
    _, size = naive(gdf, scopes, now, flt, view)
    return time.perf_counter() - t0, size


def naive(gdf, scopes, now, flt, view) -> tuple[float, int]:
    """The textbook approach: filter a GeoDataFrame in pandas, draw a folium HeatMap."""
    import folium
    from folium.plugins import HeatMap

    t0 = time.perf_counter()
    start, end = flt.time_range(now)
    m = (gdf.occurred_at >= start) & (gdf.occurred_at < end) & (gdf.severity >= flt.min_severity)
    if flt.nations:
        m &= gdf.nation_a.isin(flt.nations) | gdf.nation_b.isin(flt.nations) | gdf.reporting_nation.isin(flt.nations)
    if flt.threat_types:
        m &= gdf.threat_type.isin(flt.threat_types)
    if flt.agreements:
        s = scopes[scopes.agreement_id.isin(flt.agreements)]
        if flt.scope != "all":
            s = s[s.scope == flt.scope]
        m &= gdf.segment_id.isin(set(s.segment_id))
    v = view.clamped()
    m &= gdf.lon.between(v.west, v.east) & gdf.lat.between(v.south, v.north)
    sub = gdf[m]
    fmap = folium.Map(location=[(v.south + v.north) / 2, (v.west + v.east) / 2], zoom_start=int(view.zoom), tiles=None)
    HeatMap(list(zip(sub.geometry.y, sub.geometry.x)), radius=8).add_to(fmap)
    html = fmap.get_root().render()
    return time.perf_counter() - t0, len(html.encode())


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(sizes: list[int], workdir: pathlib.Path, reuse: bool, skip_naive_above: int) -> list[dict]:
    from borderwatch import demo, offline
    from borderwatch.store import Store

    offline.use_local_assets()
    now = dt.datetime(2026, 11, 1, 12, 0)
    rows = []
    for n in sizes:
        path = workdir / f"store-{n}"
        store = Store(path)
        built = 0.0
        if not (reuse and demo.scenario_present(store)):
            t0 = time.perf_counter()
            demo.build_demo(store, seed=11, incidents=n, now=now, show_progress=True)
            built = time.perf_counter() - t0
        ours(store, now, FILTERS[0], _views()[0])  # warm caches (reference shapes, catalog)
        our_t, our_b = [], []
        for flt in FILTERS:
            for view in _views():
                t, b = ours(store, now, flt, view)
                our_t.append(t)
                our_b.append(b)
        row = {"incidents": n, "build_s": built, "ours_median_s": statistics.median(our_t), "ours_max_s": max(our_t),
               "ours_max_mb": max(our_b) / 1e6}
        if n <= skip_naive_above:
            combos = [(f, v) for f in FILTERS for v in _views()]
            if n > 2_000_000:  # every naive rerun reads all incidents: sample the combinations
                combos = combos[::3]
            nt = [naive_uncached(store, now, f, v)[0] for f, v in combos]
            gc.collect()
            gdf, scopes, load_s = naive_load(store)
            ct, cb = [], []
            for f, v in combos:
                t, b = naive(gdf, scopes, now, f, v)
                ct.append(t)
                cb.append(b)
            row.update({"naive_median_s": statistics.median(nt), "naive_max_s": max(nt), "naive_load_s": load_s,
                        "cached_median_s": statistics.median(ct), "cached_max_s": max(ct), "naive_max_mb": max(cb) / 1e6})
            del gdf, scopes
            gc.collect()
        rows.append(row)
        print_table(rows)
        store.close()
    return rows


def print_table(rows: list[dict]) -> None:
    head = (f"{'incidents':>11} | {'ours median':>11} {'ours max':>9} {'ours MB':>8} | {'naive median':>12} "
            f"{'naive max':>9} | {'cached median':>13} {'cached max':>10} {'(load)':>7} {'naive MB':>9} | "
            f"{'vs naive':>8} {'vs cached':>9}")
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        ours_part = f"{r['incidents']:>11,} | {r['ours_median_s']:>10.3f}s {r['ours_max_s']:>8.3f}s {r['ours_max_mb']:>8.2f}"
        if "naive_median_s" in r:
            print(f"{ours_part} | {r['naive_median_s']:>11.2f}s {r['naive_max_s']:>8.2f}s | {r['cached_median_s']:>12.3f}s "
                  f"{r['cached_max_s']:>9.3f}s {r['naive_load_s']:>6.1f}s {r['naive_max_mb']:>9.2f} | "
                  f"{r['naive_median_s'] / r['ours_median_s']:>7.1f}x {r['cached_median_s'] / r['ours_median_s']:>8.2f}x")
        else:
            print(f"{ours_part} | (naive skipped)")
    print(f"(median / max over {len(FILTERS)} filters x {len(_views())} views; MB = largest map document; "
          f"peak memory {rss_mb():,.0f} MB)", flush=True)


def run(args) -> int:
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")]
    if args.dir:
        workdir = pathlib.Path(args.dir)
        workdir.mkdir(parents=True, exist_ok=True)
        measure(sizes, workdir, args.reuse, args.skip_naive_above)
    else:
        with tempfile.TemporaryDirectory(prefix="borderwatch-bench-") as tmp:
            measure(sizes, pathlib.Path(tmp), False, args.skip_naive_above)
    return 0


def configure(p) -> None:
    p.add_argument("--sizes", default="100000,1000000,10000000", help="comma-separated incident counts")
    p.add_argument("--dir", help="keep the benchmark stores here (default: a temporary directory)")
    p.add_argument("--reuse", action="store_true", help="reuse stores already built in --dir")
    p.add_argument("--skip-naive-above", type=int, default=sys.maxsize,
                   help="run the naive baseline only up to this incident count")
