#!/usr/bin/env python3
"""Build the committed border reference data in ``data/reference/`` from Natural Earth.

Maintainer script; the app never runs it. It reads Natural Earth 1:10m admin-0 countries
as packaged in TopoJSON by the npm package ``world-atlas@2.0.2`` (file ``countries-10m.json``)
and writes:

``nations.parquet``
    GeoParquet (WKB, zstd), EPSG:4326. One row per nation: ``iso3``, ``name``, ``geometry``
    (MultiPolygon). Polygons are read with GDAL's TopoJSON driver through pyogrio, cut at the
    antimeridian (world-atlas stitches Natural Earth's cuts away, see ``split_antimeridian``),
    repaired with ``shapely.make_valid`` (quantisation leaves some rings self-touching) and
    reduced to their polygonal parts.

``segments.parquet``
    GeoParquet (WKB, zstd), EPSG:4326. One row per pair of nations sharing a land border:
    ``segment_id`` (``"{nation_a}-{nation_b}"``, ``nation_a < nation_b``), ``nation_a``,
    ``nation_b``, ``length_km`` (geodesic length on the WGS84 ellipsoid) and ``geometry``
    (MultiLineString). Segments come from the topology itself: an arc referenced by the rings of
    exactly two distinct nations is a piece of the border between them; an arc referenced by one
    nation only is coastline and is not a border. Arcs referenced by three or more nations are
    quantisation artefacts (one arc of 190 m at the Israel/Jordan/Palestine junction) and are
    left out; each is listed in PROVENANCE.md.

``PROVENANCE.md``
    Source, licence, derivation, the code table below and the sha256 of the input file.

Codes
-----
Features carry the ISO 3166-1 numeric code as their ``id``; it is mapped to alpha-3 with
pycountry. Features without an ``id`` are Natural Earth admin-0 units that have no ISO code of
their own; they keep their own geometry and get a code from the ISO 3166-1 user-assigned range
``XAA``-``XZZ`` (table ``USER_ASSIGNED`` below). Kosovo uses ``XKX``, the code in common use
(for example by the World Bank). The other codes are this project's own choice: they are
stable but not recognised outside it.

Duplicates and losses
---------------------
When several features map to the same code they are merged into one nation: geometries are
unioned and the name of the largest part is kept. In world-atlas@2.0.2 this happens once:
"Ashmore and Cartier Is." carries Australia's numeric code 036 and is merged into ``AUS``.
Arcs shared only between parts of the same nation are then internal and are not borders.
A feature with no area left after quantisation is dropped with its borders: the Vatican's ring
collapses to a line (Italy's polygon covers its site), so ``VAT`` and ``ITA-VAT`` are absent.

Usage
-----
    python scripts/build_reference_data.py                      # runs `npm pack` in a temp dir
    python scripts/build_reference_data.py path/to/countries-10m.json

The input's sha256 must equal ``SOURCE_SHA256``; the outputs are written to ``data/reference/``
next to this script's repository root unless ``--out-dir`` says otherwise.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import subprocess
import sys
import tarfile
import tempfile
from collections import defaultdict

import geopandas as gpd
import numpy as np
import pycountry
import pyogrio
import shapely
from pyproj import Geod
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Polygon

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_OUT_DIR = REPO_ROOT / "data" / "reference"

PACKAGE = "world-atlas"
PACKAGE_VERSION = "2.0.2"
SOURCE_FILE = "countries-10m.json"
SOURCE_SHA256 = "3bc6f1d367a9bcec479841bae0e76092f512838411d0cef124e92eec4db45f79"
NATURAL_EARTH_VERSION = "4.1.0"
TOPOJSON_OBJECT = "countries"
CRS = "EPSG:4326"
ZSTD_LEVEL = 19  # WKB doubles compress to about half of what the default level gives

# Name in the source file -> (user-assigned ISO 3166-1 alpha-3 code, note).
USER_ASSIGNED: dict[str, tuple[str, str]] = {
    "Kosovo": ("XKX", "Kosovo; code in common international use"),
    "Somaliland": ("XSL", "Somaliland; de facto state, ISO counts it under SOM"),
    "N. Cyprus": ("XNC", "Northern Cyprus; de facto state, ISO counts it under CYP"),
    "Cyprus U.N. Buffer Zone": ("XCB", "UN buffer zone (Green Line) in Cyprus"),
    "Akrotiri": ("XAK", "Akrotiri, UK Sovereign Base Area on Cyprus"),
    "Dhekelia": ("XDK", "Dhekelia, UK Sovereign Base Area on Cyprus"),
    "Siachen Glacier": ("XSG", "Siachen Glacier, disputed between India and Pakistan"),
    "Baikonur": ("XBK", "Baikonur, Kazakh territory leased to Russia"),
    "USNB Guantanamo Bay": ("XGT", "US Naval Base Guantanamo Bay, Cuban territory leased to the US"),
    "Indian Ocean Ter.": ("XIO", "Australian Indian Ocean Territories (ISO: CXR and CCK together)"),
    "Coral Sea Is.": ("XCS", "Coral Sea Islands, Australian external territory"),
    "Spratly Is.": ("XSP", "Spratly Islands, disputed"),
    "Clipperton I.": ("XCL", "Clipperton Island, French; ISO reserves CPT but does not assign it"),
    "Bajo Nuevo Bank": ("XBN", "Bajo Nuevo Bank, disputed"),
    "Serranilla Bank": ("XSB", "Serranilla Bank, disputed"),
    "Scarborough Reef": ("XSR", "Scarborough Shoal, disputed"),
}

_GEOD = Geod(ellps="WGS84")


# --------------------------------------------------------------------------- input


def fetch_source(workdir: pathlib.Path) -> pathlib.Path:
    """`npm pack` the pinned world-atlas release into workdir and extract countries-10m.json."""
    spec = f"{PACKAGE}@{PACKAGE_VERSION}"
    try:
        out = subprocess.run(
            ["npm", "pack", spec, "--silent"], cwd=workdir, check=True, capture_output=True, text=True
        )
    except FileNotFoundError:
        sys.exit("npm is not installed; install it or pass the path to countries-10m.json")
    except subprocess.CalledProcessError as exc:
        sys.exit(f"npm pack {spec} failed:\n{exc.stderr}")
    tarball = workdir / out.stdout.strip().splitlines()[-1]
    member = f"package/{SOURCE_FILE}"
    with tarfile.open(tarball) as tar:
        tar.extract(member, workdir, filter="data")
    return workdir / member


def sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- codes


def code_for(feature_id: str | None, name: str) -> str:
    if feature_id is None:
        if name not in USER_ASSIGNED:
            raise ValueError(f"feature {name!r} has no id and no entry in USER_ASSIGNED")
        return USER_ASSIGNED[name][0]
    country = pycountry.countries.get(numeric=feature_id)
    if country is None:
        raise ValueError(f"feature {name!r}: numeric id {feature_id!r} is not an ISO 3166-1 code")
    return country.alpha_3


# --------------------------------------------------------------------------- nations


def _unwrap_ring(ring) -> np.ndarray:
    """Ring coordinates with longitudes made continuous across the antimeridian."""
    xy = np.asarray(ring.coords)[:, :2].copy()
    xy[:, 0] = np.unwrap(xy[:, 0], period=360.0)
    return xy


def split_antimeridian(polygon: Polygon) -> list[Polygon]:
    """Planar pieces of a polygon whose rings cross the antimeridian.

    world-atlas stitches Natural Earth's antimeridian cuts away (its polygons are meant for
    spherical rendering), so rings of Russia, Fiji and Antarctica jump from +180 to -180.
    Read as planar lon/lat such a ring spans the whole map. The ring is unwrapped to continuous
    longitudes (a ring around a pole is closed along the pole), cut into 360-degree windows and
    each piece is shifted back into [-180, 180].
    """
    rings = [polygon.exterior, *polygon.interiors]
    if not any(np.abs(np.diff(np.asarray(r.coords)[:, 0])).max(initial=0) > 180 for r in rings):
        return [polygon]
    shell = _unwrap_ring(polygon.exterior)
    turn = shell[-1, 0] - shell[0, 0]
    if abs(turn) > 180:  # ring around a pole: close it along the pole
        pole = -90.0 if shell[:, 1].mean() < 0 else 90.0
        shell = np.vstack([shell, [[shell[-1, 0], pole], [shell[0, 0], pole]], shell[:1]])
    lo, hi = shell[:, 0].min(), shell[:, 0].max()
    holes = []
    for ring in polygon.interiors:
        hole = _unwrap_ring(ring)
        if abs(hole[-1, 0] - hole[0, 0]) > 180:
            raise ValueError("a hole encircles a pole")
        while hole[:, 0].mean() > hi:
            hole[:, 0] -= 360.0
        while hole[:, 0].mean() < lo:
            hole[:, 0] += 360.0
        holes.append(hole)
    unwrapped = shapely.make_valid(Polygon(shell, holes), method="structure", keep_collapsed=False)
    pieces = []
    for k in (-1, 0, 1):
        window = shapely.box(-180.0 + 360.0 * k, -90.0, 180.0 + 360.0 * k, 90.0)
        piece = shapely.transform(shapely.intersection(unwrapped, window), lambda xy: xy - [360.0 * k, 0.0])
        pieces.extend(_polygons(piece))
    return pieces


def _polygons(geom) -> list[Polygon]:
    """Non-empty polygons inside geom, at any nesting depth."""
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if hasattr(geom, "geoms"):  # multi-part geometry or collection
        return [p for part in geom.geoms for p in _polygons(part)]
    return []


def to_multipolygon(geom) -> MultiPolygon | None:
    """Valid planar MultiPolygon made of the polygonal parts of a source geometry.

    None when nothing polygonal is left (a feature collapsed by quantisation).
    """
    parts = [piece for polygon in _polygons(geom) for piece in split_antimeridian(polygon)]
    valid = shapely.make_valid(MultiPolygon(parts), method="structure", keep_collapsed=False)
    polygons = _polygons(valid)
    return MultiPolygon(polygons) if polygons else None


def build_nations(path: pathlib.Path, codes: list[str]) -> tuple[gpd.GeoDataFrame, list[str], list[str]]:
    """Nations, and notes on features dropped (nothing polygonal left) or merged (shared code)."""
    raw = pyogrio.read_dataframe(path, layer=TOPOJSON_OBJECT)
    if len(raw) != len(codes):
        raise ValueError("GDAL and the JSON disagree on the number of features")
    raw = raw.set_crs(CRS, allow_override=True)
    raw["iso3"] = codes
    raw["geometry"] = [to_multipolygon(g) for g in raw.geometry]
    collapsed = raw[raw.geometry.isna()]
    dropped = [f"{row['name']} ({row['iso3']})" for _, row in collapsed.iterrows()]
    raw = raw[raw.geometry.notna()].copy()
    raw["area"] = shapely.area(raw.geometry.values)  # square degrees; only ranks parts of a nation
    rows, merged = [], []
    for iso3, group in raw.groupby("iso3", sort=True):
        group = group.sort_values("area", ascending=False)
        largest = group.iloc[0]
        if len(group) > 1:
            merged.append(f"{', '.join(repr(n) for n in group['name'])} -> {iso3} ({largest['name']!r})")
        geom = largest["geometry"] if len(group) == 1 else to_multipolygon(shapely.union_all(group.geometry.values))
        rows.append({"iso3": iso3, "name": largest["name"], "geometry": geom})
    nations = gpd.GeoDataFrame(rows, columns=["iso3", "name", "geometry"], geometry="geometry", crs=CRS)
    return nations, dropped, merged


# --------------------------------------------------------------------------- segments


def decode_arcs(topology: dict) -> list[np.ndarray]:
    """Absolute lon/lat coordinates of every arc (quantised, delta-encoded in the file)."""
    transform = topology.get("transform")
    arcs = []
    for arc in topology["arcs"]:
        pts = np.asarray(arc, dtype=np.float64)[:, :2]
        if transform is not None:
            pts = np.cumsum(pts, axis=0) * transform["scale"] + transform["translate"]
        arcs.append(pts)
    return arcs


def ring_arc_indices(geometry: dict):
    """Yield the arc index (non-negative) of every arc reference of a (Multi)Polygon."""
    if geometry["type"] == "Polygon":
        polygons = [geometry["arcs"]]
    elif geometry["type"] == "MultiPolygon":
        polygons = geometry["arcs"]
    else:
        raise ValueError(f"unexpected geometry type {geometry['type']!r}")
    for rings in polygons:
        for ring in rings:
            for ref in ring:
                yield ref if ref >= 0 else ~ref


def as_multilinestring(geom) -> MultiLineString:
    if isinstance(geom, LineString):
        return MultiLineString([geom])
    return geom


def build_segments(topology: dict, codes: list[str]) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Border segments and a note for every arc shared by more than two nations (not used)."""
    arcs = decode_arcs(topology)
    users: dict[int, set[str]] = defaultdict(set)
    for feature, code in zip(topology["objects"][TOPOJSON_OBJECT]["geometries"], codes):
        for index in ring_arc_indices(feature):
            users[index].add(code)  # a set: an arc used twice by one nation counts once

    pieces: dict[tuple[str, str], list[LineString]] = defaultdict(list)
    skipped = []
    for index in sorted(users):
        nations = users[index]
        pts = arcs[index]
        if len(nations) > 2:
            km = _GEOD.line_length(pts[:, 0], pts[:, 1]) / 1000.0
            skipped.append(f"arc {index} ({len(pts)} points, {km:.2f} km) is used by {', '.join(sorted(nations))}")
            continue
        if len(nations) != 2 or len(np.unique(pts, axis=0)) < 2:
            continue  # coastline, or collapsed to a point by quantisation
        if np.abs(np.diff(pts[:, 0])).max() > 180:
            raise ValueError(f"border arc {index} crosses the antimeridian; cut it before use")
        pieces[tuple(sorted(nations))].append(LineString(pts))

    rows = []
    for (a, b), lines in sorted(pieces.items()):
        geom = as_multilinestring(shapely.line_merge(MultiLineString(lines)))
        rows.append(
            {
                "segment_id": f"{a}-{b}",
                "nation_a": a,
                "nation_b": b,
                "length_km": _GEOD.geometry_length(geom) / 1000.0,
                "geometry": geom,
            }
        )
    columns = ["segment_id", "nation_a", "nation_b", "length_km", "geometry"]
    return gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=CRS), skipped


# --------------------------------------------------------------------------- provenance


def provenance(
    checksum: str, nations: gpd.GeoDataFrame, segments: gpd.GeoDataFrame, notes: dict[str, list[str]]
) -> str:
    names = dict(zip(nations["iso3"], nations["name"]))
    losses = "\n".join(
        f"- {title}:\n" + "\n".join(f"  - {item}" for item in items) for title, items in notes.items() if items
    ) or "- none"
    table = "\n".join(
        f"| {code} | {name} | {note} |"
        for name, (code, note) in sorted(USER_ASSIGNED.items(), key=lambda item: item[1][0])
        if names.get(code) == name
    )
    return f"""# Border reference data: provenance

Files in this directory:

| File | Contents |
|------|----------|
| `nations.parquet` | {len(nations)} nations: `iso3`, `name`, `geometry` (MultiPolygon) |
| `segments.parquet` | {len(segments)} land borders between two nations: `segment_id`, `nation_a`, `nation_b`, `length_km`, `geometry` (MultiLineString) |

Both are GeoParquet (WKB geometry, zstd level {ZSTD_LEVEL} compression) in EPSG:4326 (WGS84 longitude/latitude).

## Source

- Natural Earth 1:10m Cultural Vectors, *Admin 0 – Countries*, version {NATURAL_EARTH_VERSION}
  (<https://www.naturalearthdata.com/>). Natural Earth data is in the public domain.
- As converted to TopoJSON by Mike Bostock in the npm package `{PACKAGE}@{PACKAGE_VERSION}`
  (<https://github.com/topojson/world-atlas>), file `{SOURCE_FILE}`, ISC licence.
- sha256 of `{SOURCE_FILE}`: `{checksum}`

The TopoJSON is quantised (coordinates snapped to a 100000 x 100000 grid over the bounding
box, about 0.0036° in longitude and 0.0017° in latitude); coordinates are kept exactly as
decoded, without further rounding or simplification (the only new vertices are those added
where polygons are cut at the antimeridian and where `make_valid` splits self-touching rings).

## Derivation

1. Each feature's `id` (ISO 3166-1 numeric) is mapped to ISO 3166-1 alpha-3 with pycountry.
   Features without an `id` get the user-assigned codes in the table below.
2. `nations.parquet`: polygons are read with GDAL's TopoJSON driver (via pyogrio), assigned
   EPSG:4326, repaired with `shapely.make_valid(..., method="structure")` and reduced to their
   polygonal parts. Features mapping to the same code are merged (geometries unioned, name of
   the largest part kept; see below). A feature with no area left is dropped. Names are the
   `name` property of the source file.
3. `segments.parquet`: the arcs are decoded from the topology (delta-decoded and transformed).
   Each arc referenced by the rings of exactly two distinct nations is a piece of the border
   between them; arcs referenced by a single nation (coastline, antimeridian cuts, arcs shared
   by two parts of one nation) are not borders. The pieces of each pair are joined with
   `shapely.line_merge`; `length_km` is the geodesic length on the WGS84 ellipsoid
   (`pyproj.Geod(ellps="WGS84").geometry_length`). `segment_id` is `"{{nation_a}}-{{nation_b}}"`
   with `nation_a < nation_b`.

Borders are those of Natural Earth admin-0 units: dependencies with their own unit border
their neighbours in their own name (French Guiana is part of `FRA`, so `BRA-FRA` and `FRA-SUR`
exist; Gibraltar is `GIB`, not `GBR`). Rivers and lakes carrying a border (e.g. the Great
Lakes between `CAN` and `USA`) are counted as border. The data is generalised for 1:10m
display, so lengths are shorter than surveyed figures.

world-atlas removes Natural Earth's cuts along the antimeridian (its polygons are meant for
spherical rendering), so some rings of Russia, Fiji and Antarctica jump from +180° to -180°.
Those polygons are cut at the antimeridian again (Antarctica is closed along the South Pole) so
that every geometry is a correct planar polygon in [-180, 180] x [-90, 90]. No border arc
crosses the antimeridian.

Merges, and losses caused by the quantisation of the source:

{losses}

## Codes for features without an ISO 3166-1 code

Codes from the ISO 3166-1 user-assigned range `XAA`-`XZZ`. `XKX` (Kosovo) is in common
international use; the others are this project's own and stable, but not recognised elsewhere.

| Code | Name in source | Note |
|------|----------------|------|
{table}

## Regenerate

```
python scripts/build_reference_data.py
```

(requires `npm`; it runs `npm pack {PACKAGE}@{PACKAGE_VERSION}` in a temporary directory.)
Or download the package yourself and pass the file:
`python scripts/build_reference_data.py path/to/{SOURCE_FILE}`.
The script refuses an input whose sha256 differs from the one above.
"""


# --------------------------------------------------------------------------- main


def build(source: pathlib.Path, out_dir: pathlib.Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    checksum = sha256(source)
    if checksum != SOURCE_SHA256:
        sys.exit(f"{source}: sha256 {checksum} differs from the pinned {SOURCE_SHA256}")
    with open(source, encoding="utf-8") as fh:
        topology = json.load(fh)
    features = topology["objects"][TOPOJSON_OBJECT]["geometries"]
    codes = [code_for(f.get("id"), f.get("properties", {}).get("name")) for f in features]

    nations, dropped_nations, merged_features = build_nations(source, codes)
    segments, skipped_arcs = build_segments(topology, codes)
    # a nation whose polygon collapsed under quantisation has no geometry and no borders
    known = segments["nation_a"].isin(nations["iso3"]) & segments["nation_b"].isin(nations["iso3"])
    dropped_segments = [f"{row.segment_id} ({row.length_km:.2f} km)" for row in segments[~known].itertuples()]
    segments = segments[known].reset_index(drop=True)
    notes = {
        "Features merged because they share a code (largest part first, its name kept)": merged_features,
        "Features dropped (no area left after quantisation)": dropped_nations,
        "Segments dropped with them": dropped_segments,
        "Arcs used by more than two nations (quantisation artefacts; not assigned to any segment)": skipped_arcs,
    }
    for title, items in notes.items():
        for item in items:
            print(f"{title}: {item}")

    out_dir.mkdir(parents=True, exist_ok=True)
    for frame, name in ((nations, "nations.parquet"), (segments, "segments.parquet")):
        frame.to_parquet(out_dir / name, index=False, compression="zstd", compression_level=ZSTD_LEVEL)
    (out_dir / "PROVENANCE.md").write_text(provenance(checksum, nations, segments, notes), encoding="utf-8")
    return nations, segments


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", type=pathlib.Path, help=f"path to {SOURCE_FILE} (default: npm pack)")
    parser.add_argument("--out-dir", type=pathlib.Path, default=DEFAULT_OUT_DIR, help="output directory")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        source = args.source if args.source is not None else fetch_source(pathlib.Path(tmp))
        nations, segments = build(source, args.out_dir)
    print(f"{len(nations)} nations, {len(segments)} segments -> {args.out_dir}")
    for name in ("nations.parquet", "segments.parquet", "PROVENANCE.md"):
        print(f"  {name}: {(args.out_dir / name).stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
