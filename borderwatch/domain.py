"""The domain's words, in one place: threat types, severities, sensor types and statuses,
fortification kinds and conditions, and the geometry of a sensor's coverage.

Everything that names or checks one of these (the Filter, the importer's vocabularies, the feed
records, the scenario, the legends) takes them from here.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import shapely
from pyproj import Geod

GEOD = Geod(ellps="WGS84")

# -- incidents -----------------------------------------------------------------------------------
THREAT_TYPES = (
    "illegal_crossing",
    "smuggling",
    "drug_trafficking",
    "human_trafficking",
    "weapons_trafficking",
    "document_fraud",
    "armed_incursion",
    "drone_incursion",
    "other",
)
THREAT_LABELS = {t: t.replace("_", " ").capitalize() for t in THREAT_TYPES}
SEVERITY_LABELS = {1: "low", 2: "moderate", 3: "high", 4: "critical"}


# -- sensors -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SensorType:
    """What a kind of sensor usually covers: a range in metres and a field of view (0 = all round)."""
    range_m: tuple[float, float]
    fov_deg: float

    @property
    def typical_range_m(self) -> float:
        return (self.range_m[0] + self.range_m[1]) / 2


SENSOR_TYPES = {
    "radar": SensorType((15_000, 35_000), 120),
    "thermal_camera": SensorType((4_000, 10_000), 45),
    "optical_camera": SensorType((2_000, 5_000), 40),
    "seismic_sensor": SensorType((300, 800), 0),
    "uav_orbit": SensorType((10_000, 20_000), 0),
    "aerostat": SensorType((40_000, 60_000), 0),
}
SENSOR_KINDS = (*SENSOR_TYPES, "other")  # "other": a sensor of a type not listed, imported with its own range
SENSOR_STATUSES = ("online", "degraded", "offline")

# -- fortifications ------------------------------------------------------------------------------
FORTIFICATION_LINES = ("wall", "fence", "vehicle_barrier", "patrol_road")
FORTIFICATION_POINTS = ("border_post", "checkpoint", "gate", "watchtower")
FORTIFICATION_KINDS = (*FORTIFICATION_LINES, *FORTIFICATION_POINTS, "other")
CONDITIONS = ("good", "fair", "poor", "breached")


def coverage_polygon(lon: float, lat: float, range_m: float, azimuth: float, fov: float, steps: int = 24):
    """A sensor's coverage: the geodesic sector (or disc when ``fov`` >= 360) around its site, in
    lon/lat, ``range_m`` metres deep, centred on ``azimuth`` degrees."""
    if fov >= 360:
        az = np.linspace(0, 360, steps * 2, endpoint=False)
        lons, lats, _ = GEOD.fwd(np.full(az.size, lon), np.full(az.size, lat), az, np.full(az.size, range_m))
        ring = list(zip(lons, lats))
    else:
        az = np.linspace(azimuth - fov / 2, azimuth + fov / 2, steps)
        lons, lats, _ = GEOD.fwd(np.full(az.size, lon), np.full(az.size, lat), az, np.full(az.size, range_m))
        ring = [(lon, lat), *zip(lons, lats)]
    poly = shapely.Polygon(ring)
    return poly if poly.is_valid else shapely.make_valid(poly)
