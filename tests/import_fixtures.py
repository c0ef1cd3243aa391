"""Small files the import tests build themselves, shaped like the real third-party files.

Each builder writes into a directory and returns the path plus what the file holds (so tests can
check the importer's answer against an independent truth computed here with pyproj / shapely).
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import pathlib
import zipfile

import geopandas as gpd
import numpy as np
import pyogrio
import pyproj
import shapely

# -- a projected Shapefile with an ISO-8859-1 DBF that declares no encoding ------------------------
# the five boroughs of New York City as rough outlines (lon/lat), stored in EPSG:2263 (US feet)
BOROUGHS = {
    "Staten Island": [(-74.255, 40.496), (-74.052, 40.496), (-74.052, 40.648), (-74.20, 40.648), (-74.255, 40.56)],
    "Queens": [(-73.962, 40.542), (-73.700, 40.542), (-73.700, 40.800), (-73.962, 40.800)],
    "Brooklyn": [(-74.042, 40.570), (-73.833, 40.570), (-73.833, 40.739), (-74.042, 40.739)],
    "Manhattan": [(-74.019, 40.700), (-73.971, 40.708), (-73.910, 40.872), (-73.934, 40.878), (-74.016, 40.760)],
    "Bronx": [(-73.933, 40.785), (-73.765, 40.785), (-73.765, 40.917), (-73.933, 40.917)],
}


@dataclasses.dataclass
class Boroughs:
    path: pathlib.Path
    layer: str
    lonlat: list[shapely.Polygon]  # the outlines as they should come back (WGS 84)
    names: list[str]


def boroughs_shapefile(directory: pathlib.Path, name: str = "nyc_boroughs_epsg2263.zip") -> Boroughs:
    """A zipped Shapefile in EPSG:2263; its DBF has language driver id 0 and no .cpg (like many real ones)."""
    directory.mkdir(parents=True, exist_ok=True)
    lonlat = [shapely.Polygon(ring) for ring in BOROUGHS.values()]
    to_feet = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:2263", always_xy=True)
    projected = [shapely.transform(p, lambda xy: np.column_stack(to_feet.transform(xy[:, 0], xy[:, 1]))) for p in lonlat]
    frame = gpd.GeoDataFrame({"BoroCode": [5, 4, 3, 1, 2], "BoroName": list(BOROUGHS)}, geometry=projected,
                             crs="EPSG:2263")
    work = directory / (pathlib.Path(name).stem + "_parts")
    work.mkdir()
    pyogrio.write_dataframe(frame, work / "boroughs.shp", encoding="ISO-8859-1")
    (work / "boroughs.cpg").unlink()
    dbf = bytearray((work / "boroughs.dbf").read_bytes())
    dbf[29] = 0  # no language driver id either
    (work / "boroughs.dbf").write_bytes(bytes(dbf))
    path = directory / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for ext in ("shp", "shx", "dbf", "prj"):
            z.write(work / f"boroughs.{ext}", f"boroughs.{ext}")
    # the back-conversion the importer must match (and the same CRS operation pyproj picks)
    to_deg = pyproj.Transformer.from_crs("EPSG:2263", "EPSG:4326", always_xy=True)
    back = [shapely.transform(p, lambda xy: np.column_stack(to_deg.transform(xy[:, 0], xy[:, 1]))) for p in projected]
    return Boroughs(path, "boroughs", back, list(BOROUGHS))


# -- a NAD27 GeoPackage --------------------------------------------------------------------------
NC_COUNTIES = {  # rough county boxes in North Carolina (NAD27 degrees)
    "Ashe": (-81.74, 36.23, -81.24, 36.59),
    "Alleghany": (-81.35, 36.36, -80.90, 36.59),
    "Surry": (-80.97, 36.24, -80.45, 36.56),
    "Currituck": (-76.34, 36.07, -75.77, 36.55),
}


def nad27_geopackage(directory: pathlib.Path, name: str = "counties_nad27.gpkg") -> pathlib.Path:
    """A GeoPackage with one layer ``counties`` in EPSG:4267 (NAD27 degrees)."""
    directory.mkdir(parents=True, exist_ok=True)
    frame = gpd.GeoDataFrame({"NAME": list(NC_COUNTIES), "FIPS": ["37009", "37005", "37171", "37053"]},
                             geometry=[shapely.box(*b) for b in NC_COUNTIES.values()], crs="EPSG:4267")
    path = directory / name
    pyogrio.write_dataframe(frame, path, layer="counties", driver="GPKG")
    return path


# -- a mixed-geometry GeoJSON (OpenStreetMap Overpass style) ---------------------------------------
BORDER_LAT = 31.3322  # the US-Mexico border west of El Paso follows this parallel


@dataclasses.dataclass
class FenceFile:
    path: pathlib.Path
    kinds: dict[str, int]
    geometry_types: dict[str, int]
    line_km: float
    first_id: str


def osm_fence_geojson(directory: pathlib.Path, name: str = "osm_border_fence.geojson") -> FenceFile:
    """Fence and wall ways (lines) and gates (points) on the US-Mexico border, with OSM tags."""
    directory.mkdir(parents=True, exist_ok=True)
    features, kinds = [], {}
    geod = pyproj.Geod(ellps="WGS84")
    km = 0.0

    def way(osm_id: str, lon0: float, lon1: float, kind: str, **tags) -> None:
        nonlocal km
        coords = [[round(x, 7), BORDER_LAT] for x in np.linspace(lon0, lon1, 6)]
        km += geod.line_length([c[0] for c in coords], [c[1] for c in coords]) / 1000
        features.append({"type": "Feature", "id": osm_id, "properties": {"id": osm_id, "version": "3", **tags},
                         "geometry": {"type": "LineString", "coordinates": coords}})
        kinds[kind] = kinds.get(kind, 0) + 1

    lon = -110.9
    for i in range(6):
        way(f"way/{1000 + i}", lon, lon + 0.05, "fence", barrier="fence", border_fence="us_mexico_border_fence")
        lon += 0.05
    for i in range(3):
        way(f"way/{2000 + i}", lon, lon + 0.05, "vehicle_barrier", barrier="fence", border_fence_type="vehicle")
        lon += 0.05
    way("way/3000", lon, lon + 0.02, "wall", barrier="city_wall")
    lon += 0.02
    way("way/4000", lon, lon + 0.02, "other", border_fence="us_mexico_border_fence")
    for i, x in enumerate((-110.93, -110.75, -110.6)):
        features.append({"type": "Feature", "id": f"node/{5000 + i}",
                         "properties": {"id": f"node/{5000 + i}", "barrier": "gate"},
                         "geometry": {"type": "Point", "coordinates": [x, BORDER_LAT]}})
        kinds["gate"] = kinds.get("gate", 0) + 1
    path = directory / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, indent=1), encoding="utf-8")
    return FenceFile(path, kinds, {"LineString": 11, "Point": 3}, km, f"{name}:way/1000")


# -- a Missing Migrants (IOM MMP) legacy-layout CSV ----------------------------------------------
MMP_COLUMNS = ["Web ID", "Region of Incident", "Reported Date", "Reported Year", "Reported Month", "Number Dead",
               "Minimum Estimated Number of Missing", "Total Dead and Missing", "Number of Survivors",
               "Number of Females", "Number of Males", "Number of Children", "Cause of Death",
               "Location Description", "Information Source", "Location Coordinates", "Migration Route", "URL",
               "UNSD Geographical Grouping", "Source Quality"]


def _mmp_row(web_id, date, year, month, dead, total, cause, where, coords, quality, survivors="", route=""):
    return {"Web ID": web_id, "Region of Incident": "Mediterranean", "Reported Date": date, "Reported Year": year,
            "Reported Month": month, "Number Dead": dead, "Minimum Estimated Number of Missing": "",
            "Total Dead and Missing": total, "Number of Survivors": survivors, "Number of Females": "",
            "Number of Males": "", "Number of Children": "", "Cause of Death": cause, "Location Description": where,
            "Information Source": "Coast guard", "Location Coordinates": coords, "Migration Route": route, "URL": "",
            "UNSD Geographical Grouping": "Uncategorized", "Source Quality": quality}


MMP_ROWS = [
    _mmp_row("52673", "December 30, 2019", "2019", "Dec", "1", "1", "Hypothermia",
             "Unspecified location off the coast of Algeria", "35.568972356329, -1.289773129748", "1", survivors="11",
             route="Western Mediterranean"),
    _mmp_row("52666", "December 30, 2019", "2019", "Dec", "12", "12", "Presumed drowning", "Beach near Ceuta",
             "35.912383552874, -5.357673338898", "5"),
    _mmp_row("51450", "June 27, 2017", "2017", "Jun", "1", "1", "Sickness", "Sahara Desert, Niger", "", "2"),
    _mmp_row("31092", "June 26, 2017", "2017", "Jun", "0", "0", "Drowning", "Off the coast of Libya",
             "31.624914100000, 17.262365100000", "4"),
]


def mmp_csv(directory: pathlib.Path, name: str = "mmp_legacy.csv") -> pathlib.Path:
    """UTF-8 with BOM, every field quoted, ``Month D, YYYY`` dates, "lat, lon" text; row 3 has no coordinates."""
    directory.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, MMP_COLUMNS, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writeheader()
    writer.writerows(MMP_ROWS)
    path = directory / name
    path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))
    return path


def csv_record_count(path: pathlib.Path, encoding: str = "utf-8-sig", delimiter: str = ",") -> int:
    """Records in a CSV counted by Python's csv module in strict mode (header excluded): an oracle."""
    with open(path, newline="", encoding=encoding) as fh:
        return sum(1 for _ in csv.reader(fh, strict=True, delimiter=delimiter)) - 1


def dbf_record_count(data: bytes) -> int:
    """The record count a DBF header declares."""
    return int.from_bytes(data[4:8], "little")
